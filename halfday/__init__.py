"""The composition: the `halfday` command, the demo, the door simulator, the sample network and the broker
launcher. The only package that imports every other one."""
