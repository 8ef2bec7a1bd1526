"""Pure functions that render docker invocations and shell scripts as argument lists.

Nothing here runs anything: the Pulumi components and runners execute what these return,
so every command can be tested on its own (the way Kamal builds its commands).
"""
