"""The suite inside virtual machines booted with other Linux kernels and this host's own userland:
which kernel and how it is made ready (``kernels``), what the host needs (``host``), the guest's
initramfs (``initramfs``), one guest (``guest``), several kernels in a row and their matrix
(``matrix``). docs/kernels.md."""
