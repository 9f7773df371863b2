"""Page data: one module per dashboard page, named after it; each function returns what its panel shows."""
