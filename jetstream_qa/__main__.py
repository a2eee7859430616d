import sys

from jetstream_qa.cli import main

sys.exit(main())
