"""A DynamoDB/SQS emulator for orderflow's AWS tests: moto's server, with DynamoDB requests
serialised (stock moto_server can interleave concurrent transactions and oversell) and
served threaded (SQS long polling holds a request open).

Usage: moto_server.py PORT
"""

import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def serialised(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with dynamodb:
            # Consume the whole response while holding the lock.
            return list(app(environ, start_response))
    return app(environ, start_response)


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), serialised, threaded=True)
