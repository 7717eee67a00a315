import sys

from llmimg.cli.main import main

sys.exit(main())
