"""HTTP adapter of scan-login (flow D): tickets, waiters, QR images, the phone's side."""
