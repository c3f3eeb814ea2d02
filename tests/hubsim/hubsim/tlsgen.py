"""A throw-away test CA and a server certificate for 127.0.0.1, 127.0.0.2, localhost and the legs'
addresses (--api-host, --cdn-host) (openssl CLI)."""
import os
import subprocess


def make(dirpath, hosts=()):
    """Create ca.pem (the CA to trust), server.pem (leaf + CA chain) and server.key. Returns paths.
    ``hosts``: more addresses (or names) the certificate is valid for."""
    os.makedirs(dirpath, exist_ok=True)
    p = lambda n: os.path.join(dirpath, n)  # noqa: E731
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "3650", "-subj", "/CN=hffs hubsim test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost")
    names = dict.fromkeys(["127.0.0.1", "127.0.0.2", *hosts, "localhost"])
    san = ",".join(("DNS:" if any(c.isalpha() for c in n) else "IP:") + n for n in names)
    with open(p("ext.cnf"), "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial",
        "-out", p("leaf.pem"), "-days", "825", "-extfile", p("ext.cnf"))
    with open(p("server.pem"), "w") as out:
        for n in ("leaf.pem", "ca.pem"):
            with open(p(n)) as f:
                out.write(f.read())
    os.chmod(p("server.key"), 0o600)
    return {"ca": p("ca.pem"), "cert": p("server.pem"), "key": p("server.key")}
