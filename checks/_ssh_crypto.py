"""What counts as weak SSH cryptography: one list, read by the checks of the effective
configuration (``sshd -T``) and of what a server offers on the wire, so the two can never
disagree. Shell patterns; policies can override them through each check's ``weak`` param.
Sources: ssh-audit's policy, CIS Debian/Ubuntu 5.1.x, ANSSI's OpenSSH recommendations."""

WEAK_CIPHERS = ("*-cbc", "*-cbc@*", "3des*", "des*", "arcfour*", "blowfish*", "cast128*", "none")
WEAK_MACS = ("hmac-md5*", "hmac-sha1*", "hmac-ripemd160*", "umac-64*", "none")
WEAK_KEX = (
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
    "rsa1024-sha1",
    "gss-*sha1-*",
)
