"""Validation on the device's own runtime: the profile's ``device_runtimes`` (e.g. aarch64 tflite-runtime
2.14 and ai-edge-litert 1.4) run the artifact under qemu-user emulation.

Modules: ``wheels`` (which runtime wheels exist), ``env`` (the emulated Debian root + wheels, cached),
``probe`` (the one-file script run inside it), ``runner`` (one run in a subprocess + agreement),
``quirks`` (known-bad patterns, detection and rewrite), ``check`` (:func:`edgekit.device.check.validate`,
what the engine calls), ``cli`` (``edgekit device-env``). This package imports nothing heavy.
"""
