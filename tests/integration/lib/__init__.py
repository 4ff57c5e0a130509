"""The integration suite's own library: what the test modules share, so that no test module
imports another.

  pulse_check  the sensor's values against virsh (also a command of its own)
"""
