"""The integration suite's own library: what the test modules share, so that no test module
imports another.

  common       paths (this directory, the repository, $PULSE_IT_STATE), env files, waits
  sensor       the sensor binary: its environment, runs of it, the Sensor class
  lab          the libvirt lab and libvirtd: lab.env, virsh, the lab's scripts, domain XML
  kafka        brokers (kafka.sh), topics, kcat
  influx       influxd (influxdb.sh), line protocol, `pulse-sensor import`
  contract     the contract's checks of messages and points (shared/CONTRACT.md)
  pulse_check  the sensor's values against virsh (also a command of its own)
  proc         other processes as /proc shows them
  faults       the fault modules' broker, sensors and checks (test_faults_*.py)
"""
