"""pytest's set-up for the integration suite.

The test modules import their helpers from the package lib/ in this directory, which pytest
puts on sys.path (as it does for the directory of a conftest.py or test module outside a
package); none imports another test module.
"""

import sys

sys.dont_write_bytecode = True   # keep the source tree clean
