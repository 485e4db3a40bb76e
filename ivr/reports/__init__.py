"""Reports from call logs: figures a hotline designer reads (``ivr report``).

`sources` finds the logs and says what is wrong in them, `summary` computes every figure
with DuckDB over the JSON Lines, `terminal` prints them, `html` writes one self-contained
page with charts (matplotlib) and the menu as a heat map (Graphviz, through
`ivr.outputs.menu_map`).
"""
