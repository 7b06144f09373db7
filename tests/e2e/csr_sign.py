#!/usr/bin/env python3
# The e2e tests' stand-in for kube-controller-manager's csrsigning controller: signs the PEM CSR on stdin
# with the test CA as a kubelet client certificate (or, with "serving", a kubelet serving certificate with
# the request's subjectAltNames, as the kubernetes.io/kubelet-serving signer makes it), valid from
# now+START_S for VALIDITY_S seconds (openssl x509 -req counts in days only; a rotation test needs minutes).
# Prints the PEM certificate.
#   csr_sign.py CA_CRT CA_KEY START_S VALIDITY_S [serving] < csr.pem
import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

ca_crt, ca_key, start_s, validity_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
serving = len(sys.argv) > 5 and sys.argv[5] == "serving"
csr = x509.load_pem_x509_csr(sys.stdin.buffer.read())
with open(ca_crt, "rb") as f:
    ca = x509.load_pem_x509_certificate(f.read())
with open(ca_key, "rb") as f:
    key = serialization.load_pem_private_key(f.read(), None)
not_before = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=start_s)
builder = (
    x509.CertificateBuilder()
    .subject_name(csr.subject)
    .issuer_name(ca.subject)
    .public_key(csr.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(not_before)
    .not_valid_after(not_before + datetime.timedelta(seconds=validity_s))
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(
        x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                      data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                      encipher_only=False, decipher_only=False),
        critical=True)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if serving else ExtendedKeyUsageOID.CLIENT_AUTH]),
                   critical=False)
)
if serving:
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        builder = builder.add_extension(sans, critical=False)
    except x509.ExtensionNotFound:
        pass
cert = builder.sign(key, hashes.SHA256())
sys.stdout.write(cert.public_bytes(serialization.Encoding.PEM).decode())
