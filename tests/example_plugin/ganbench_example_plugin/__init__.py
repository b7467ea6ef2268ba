"""An example ganbench plugin; each module registers one thing (see pyproject.toml's entry points)."""
