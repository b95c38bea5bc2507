# Loads the seatrial pytest plugin (options, environments, report header) for checks/ and tests/.
pytest_plugins = ["seatrial.fixtures.plugin"]
