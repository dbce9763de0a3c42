/**
 * The pseudo-terminal relay, a Python 3 program run as
 * `python3 -I -c RELAY_SCRIPT COLS ROWS PROGRAM ARGS…`.
 *
 * Node has no pty of its own and a native addon (node-pty) would be one more
 * thing for operators to compile; python3 with its stdlib is on every host we
 * target. The relay:
 *
 * - opens a pty of COLS×ROWS and forks PROGRAM on it as a session leader with
 *   the pty as its controlling terminal (so job control, ^C and `tty` work);
 *   ARGS are handed to execvp as they are, never to a shell;
 * - copies its stdin to the pty and the pty's output to its stdout;
 * - on stdin EOF types the terminal's EOF character (^D), as a user would,
 *   so `ssh -tt host enter app < script` ends. Only once everything typed
 *   before was read, and either a line editor waits for keys (non-canonical
 *   mode: bash's readline) or the program itself (not a job it started)
 *   waits in line mode (`cat`), and the terminal has been quiet a moment:
 *   a ^D that arrives while bash runs a command is later read by readline as
 *   a NUL byte, not as EOF, and readline leaves non-canonical mode only
 *   after echoing the line it read. The mode can still change between our
 *   look and the kernel's taking of the byte, so while the program stays,
 *   waits and is quiet for a second more, ^D is typed again, as a user
 *   would. Anything else waits for the client, as with sshd;
 * - reads `COLS ROWS\n` lines on fd 3 and applies them with TIOCSWINSZ, which
 *   makes the kernel send SIGWINCH to the terminal's foreground job;
 * - on SIGTERM/SIGHUP/SIGINT hangs the terminal up (SIGHUP to the session),
 *   then SIGKILLs it 3 s later if it is still there;
 * - exits with PROGRAM's status (128+N when it died of signal N).
 *
 * `-I` keeps the app's PYTHON* variables and its files (the cwd is the
 * release directory) out of the relay's own interpreter.
 */
export const RELAY_SCRIPT = String.raw`
import errno, fcntl, os, select, signal, struct, sys, termios, time

RESIZE_FD = 3

def set_size(fd, cols, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))

def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]

def spawn(argv, cols, rows):
    master, slave = os.openpty()
    set_size(slave, cols, rows)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.closerange(3, 1024)
            # Python ignores these; ignored signals would survive exec.
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            os.execvp(argv[0], argv)
        except BaseException as err:
            try:
                os.write(2, ('slipway: cannot run %s: %s\r\n' % (argv[0], err)).encode())
            finally:
                os._exit(127)
    # Kept open: FIONREAD on it says whether typed input is still unread.
    return pid, master, slave

def input_queued(slave):
    return struct.unpack('i', fcntl.ioctl(slave, termios.FIONREAD, b'\0\0\0\0'))[0]

def main():
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    argv = sys.argv[3:]
    # Before any fd of ours could take number 3.
    try:
        os.fstat(RESIZE_FD)
        resize_open = True
    except OSError:
        resize_open = False
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    pid, master, slave = spawn(argv, cols, rows)
    os.set_blocking(master, False)

    # The session's first group (the program's), and the job in the foreground.
    def kill_session(sig):
        try:
            os.killpg(pid, sig)
        except OSError:
            pass
        try:
            fg = os.tcgetpgrp(master)
            if fg > 0 and fg != pid:
                os.killpg(fg, sig)
        except OSError:
            pass

    hung_up = []

    def on_term(*_):
        kill_session(signal.SIGHUP)
        kill_session(signal.SIGCONT)
        if not hung_up:
            hung_up.append(True)
            signal.alarm(3)

    def on_alarm(*_):
        kill_session(signal.SIGKILL)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_term)
    signal.signal(signal.SIGALRM, on_alarm)

    stdin_open = True
    master_open = True
    pending = bytearray()
    resize_buf = b''
    status = None
    eof_wanted = False
    eofs_typed = 0
    waiting_since = None
    last_output = time.monotonic()

    while status is None:
        rlist = [wake_r]
        if master_open:
            rlist.append(master)
        if stdin_open and len(pending) < 65536:
            rlist.append(0)
        if resize_open:
            rlist.append(RESIZE_FD)
        wlist = [master] if pending and master_open else []
        r, w, _ = select.select(rlist, wlist, [], 0.05 if eof_wanted else None)
        if wake_r in r:
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
        if master in r:
            try:
                data = os.read(master, 65536)
            except BlockingIOError:
                data = None
            except OSError as err:
                if err.errno != errno.EIO:
                    raise
                data = b''
            if data == b'':
                master_open = False
            elif data:
                last_output = time.monotonic()
                try:
                    write_all(1, data)
                except BrokenPipeError:
                    on_term()
        if 0 in r:
            data = os.read(0, 65536)
            if data:
                pending += data
            else:
                stdin_open = False
                eof_wanted = True
        if master in w and pending:
            try:
                n = os.write(master, pending)
                del pending[:n]
            except BlockingIOError:
                pass
            except OSError:
                pending.clear()
        if resize_open and RESIZE_FD in r:
            data = os.read(RESIZE_FD, 4096)
            if not data:
                resize_open = False
            resize_buf += data
            *lines, resize_buf = resize_buf.split(b'\n')
            for line in lines:
                try:
                    c, rw = (int(x) for x in line.split())
                    set_size(master, c, rw)
                except (ValueError, OSError):
                    pass
        if eof_wanted and not pending:
            editor = waiting = False
            try:
                attrs = termios.tcgetattr(slave)
                editor = not attrs[3] & termios.ICANON
                waiting = not input_queued(slave) and (editor or os.tcgetpgrp(master) == pid)
            except (OSError, termios.error):
                eof_wanted = False
            now = time.monotonic()
            waiting_since = (waiting_since or now) if waiting else None
            if eofs_typed:
                settle = 1.0
            else:
                settle = 0.1 if editor else 0.5
            # A job in the background may never let the output rest (tail -f &): waiting this long is enough.
            if waiting and (now - max(waiting_since, last_output) >= settle or now - waiting_since >= 2.0):
                pending += attrs[6][termios.VEOF]
                eofs_typed += 1
                waiting_since = None
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st

    # The program is gone; pass on what it wrote last. Output still arriving
    # after a short quiet spell, or after a second, belongs to leftovers that
    # outlived it (a job in the background that keeps writing).
    drain_until = time.monotonic() + 1.0
    while master_open and time.monotonic() < drain_until:
        r, _, _ = select.select([master], [], [], 0.1)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        try:
            write_all(1, data)
        except BrokenPipeError:
            break
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))

main()
`;
