"""One module per part of the console; each function renders one page or takes one step."""
