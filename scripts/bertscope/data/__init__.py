"""The inputs stage: examples read from the config or a file (JSONL, SQuAD), and the input and reference tensors
built from them."""
