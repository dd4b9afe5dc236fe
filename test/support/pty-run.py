"""Run a command on a pseudo-terminal, as a person at a shell would, and type lines into it.

stdin: one JSON object {"argv": [...], "env": {...}, "lines": ["typed line", ...]}; each line is
typed after the program has printed something new (its prompt). stdout: JSON {"code", "screen"},
where screen is everything the terminal showed (a password typed with echo off is not there).
"""
import json, os, pty, select, sys, time

req = json.load(sys.stdin)
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(req["argv"][0], req["argv"], {**os.environ, **req.get("env", {})})

screen = b""
lines = list(req["lines"])
deadline = time.time() + 20
seen = 0
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    elif lines and len(screen) > seen:
        seen = len(screen)
        os.write(fd, (lines.pop(0) + "\r").encode())
_, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "screen": screen.decode("utf-8", "replace")}))
