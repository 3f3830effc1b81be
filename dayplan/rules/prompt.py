"""The prompts (the reference experiment's, verbatim)."""

from __future__ import annotations

SYSTEM_PROMPT = (
    "You are a precise event scheduler.\n"
    "1. First, reason through the problem inside <think> and </think> tags. Here you can create drafts, "
    "compare alternatives, and check for mistakes.\n"
    "2. When confident, output the final schedule inside <schedule> and </schedule> tags. Your schedule "
    "must strictly follow the rules provided by the user."
)

USER_PROMPT_HEADER = (
    "Task: create an optimized schedule based on the given events.\n"
    "\n"
    "Rules:\n"
    "- The schedule MUST be in strict chronological order. Do NOT place priority events earlier unless "
    "their actual start time is earlier.\n"
    "- Event start and end times are ABSOLUTE. NEVER change, shorten, adjust, or split them.\n"
    "- Priority events (weight = 2) carry more weight than normal events (weight = 1), but they MUST "
    "still respect chronological order.\n"
    "- Maximize the sum of weighted event durations.\n"
    "- No overlaps allowed. In conflicts, include the event with the higher weighted time.\n"
    "- Some events may be excluded if needed to meet these rules.\n"
    "\n"
    "\n"
    "You must use this format:  \n"
    "\n"
    "<think>...</think>\n"
    "<schedule>\n"
    "<event>\n"
    "<name>...</name>\n"
    "<start>...</start>\n"
    "<end>...</end>\n"
    "</event>\n"
    "...\n"
    "</schedule>\n"
    "\n"
    "---\n"
    "\n"
)


def user_prompt(instance_text: str) -> str:
    return USER_PROMPT_HEADER + instance_text


def chat_messages(instance_text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_prompt(instance_text)},
    ]
