"""tls_server.py - the threaded HTTPS server of the links test doubles
(auth_double.py, fault_relay.py): each connection's TLS handshake runs in
its own thread, not in accept(), and failures are written to stderr under
the double's name."""
import ssl
import sys
from http.server import ThreadingHTTPServer


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen, handler, name, cert, key, timeout):
        host, _, port = listen.rpartition(":")
        super().__init__((host, int(port)), handler)
        self.name = name
        self.timeout_s = timeout
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["http/1.1"])

    def finish_request(self, request, client_address):
        request.settimeout(self.timeout_s)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write("%s: %s: TLS handshake failed: %s\n" % (self.name, client_address[0], e))
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        sys.stderr.write("%s: %s: %s\n" % (self.name, client_address[0], sys.exc_info()[1]))
