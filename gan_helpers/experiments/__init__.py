"""One module per notebook experiment: its runner and its claims (each under ~300 lines)."""
