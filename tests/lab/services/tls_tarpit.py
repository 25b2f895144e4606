"""A port that accepts TCP connections and never says a word (nor reads): what a hung
TLS service or a deliberate tarpit looks like to a scanner. Usage: tls_tarpit.py PORT"""

import socket
import sys
import time

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(256)
held = []
end = time.time() + 3600
while time.time() < end:
    held.append(listener.accept()[0])
