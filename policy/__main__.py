"""Entry point the engine runs (`python -m pulumi.policy ENGINE <this directory>`).

The pack directory is the working directory and sys.path[0]; the rules are imported as the
`policy` package from the directory above it, the same modules tests/policy imports.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.pack import serve

serve()
