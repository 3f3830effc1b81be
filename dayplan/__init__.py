"""dayplan: teach a language model to plan a day with GRPO."""
