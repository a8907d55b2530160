"""The ops, grouped by family; each is a `Function` with forward and backward side by side."""
