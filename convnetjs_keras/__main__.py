import sys

from convnetjs_keras.cli import main

sys.exit(main())
