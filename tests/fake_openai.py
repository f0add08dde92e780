"""The one fake OpenAI-compatible endpoint of the tests and benchmarks (chat and completions
replies, and a /v1/models listing): a script decides
what request n gets (a reply, an error status, a hang, broken JSON), and it keeps what it saw
(each request's JSON body and Authorization header, how many were in flight at once).
benchmarks/judge_endpoint.py imports it too."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Script:
    """What the fake server does with request n (0-based), and what it saw."""

    def __init__(self, fn):
        self.fn, self.n, self.lock = fn, 0, threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.auth = []
        self.requests: dict = {}   # n -> the request's JSON body (a script may read its own request)


def completion(text="M", logprobs=True, system_fingerprint=None):
    choice = {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": text}}
    if logprobs:
        other = "m" if text == "M" else "M"     # the answer most likely, the other identifier next
        first = text if text in ("m", "M") else "M"
        choice["logprobs"] = {"content": [{"token": text, "logprob": -0.1, "bytes": None, "top_logprobs": [
            {"token": first, "logprob": -0.1, "bytes": None},
            {"token": other if first == text else "m", "logprob": -2.4, "bytes": None}]}]}
    return 200, {}, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "fake-judge",
                                "choices": [choice], "usage": {"prompt_tokens": 50, "completion_tokens": 1,
                                                               "total_tokens": 51}}
                               | ({"system_fingerprint": system_fingerprint} if system_fingerprint else {}))


def chat_reply(content, reasoning=None, finish="stop"):
    """A chat-completions reply with `content`, and the thinking a server's reasoning parser
    puts apart (`reasoning_content`, as vLLM's and SGLang's do) when given."""
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return 200, {}, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "fake-model",
                                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})


def text_completion(text="M", finish="length", prompt_tokens=5):
    """A completions-API reply (the endpoint backend's), with `text` as the completion and
    `prompt_tokens` as the length the server says the prompt had."""
    return 200, {}, json.dumps({"id": "x", "object": "text_completion", "created": 0, "model": "fake-model",
                                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
                                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                                          "total_tokens": prompt_tokens + 1}})


def serve():
    """Start the server on a free port of 127.0.0.1: (use, stop); use(script_fn) -> (base URL, Script)."""
    holder = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                out = json.dumps({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake",
                                                              "root": holder.get("root")}
                                                             for m in holder.get("models", ())]}).encode()
                self.send_response(200)
            else:
                out = b'{"detail": "Not Found"}'
                self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_POST(self):
            script = holder["script"]
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with script.lock:
                n = script.n
                script.n += 1
                try:
                    script.requests[n] = json.loads(raw)
                except ValueError:
                    script.requests[n] = None
                script.in_flight += 1
                script.most_in_flight = max(script.most_in_flight, script.in_flight)
                script.auth.append(self.headers.get("Authorization"))
            try:
                status, headers, body = script.fn(n)
                out = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with script.lock:
                    script.in_flight -= 1

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def use(fn, models=("fake-judge", "fake-model"), root=None):
        holder["script"] = Script(fn)
        holder["models"], holder["root"] = models, root
        return f"http://127.0.0.1:{httpd.server_port}/v1", holder["script"]

    return use, httpd.shutdown




def alpaca_pick(body: dict, references: list[str], favour: str) -> str:
    """What an AlpacaEval judge answers to favour `favour` ("reference" or "model") in the
    request `body`: alpaca_eval's identifier of the slot that output was shown in ('m' names the
    first output shown, 'M' the second), whichever order alpaca_eval chose."""
    text = "".join(m["content"] for m in body["messages"])
    ref = next(r for r in references if r in text)
    reference_first = text.index(ref) < text.index('"model_identifier": "M"')
    return "m" if reference_first == (favour == "reference") else "M"
