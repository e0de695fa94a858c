# Names vulture cannot see used: entry points, stdlib hooks, public API.
