/*
 * slipway-socket-owners: tells the daemon which uid owns a loopback TCP
 * socket, from the kernel's sock_diag netlink interface.
 *
 * The router and the process supervisor send a guest's traffic only to
 * sockets of the guest's own uid. /proc/net/tcp{,6} say the same, but each
 * read walks the kernel's whole connection table (~5 ms here, however few
 * sockets there are) and blocks the daemon's event loop meanwhile. sock_diag
 * looks one connection up by its addresses and lists only listening sockets
 * when asked: microseconds. The daemon starts this once and keeps it.
 *
 * Requests on stdin, one answer line each on stdout, in order:
 *   L <port>      the uid of the listener a connection to 127.0.0.1:<port>
 *                 reaches: 127.0.0.1, then 0.0.0.0, then [::ffff:127.0.0.1],
 *                 then [::] (the kernel's order); "-" when none listens.
 *   A <srv> <cli> the uid of the socket that accepted the connection from
 *                 127.0.0.1:<cli> to 127.0.0.1:<srv>; "-" when no such
 *                 connection is listed (yet). One still being accepted is
 *                 its listener's, as in /proc.
 * An answer of "E <reason>" means sock_diag is not usable here: the daemon
 * then reads /proc instead. Ends at the end of its input.
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NONE (-1L)
#define FAILED (-2L)

static int nl = -1;
static unsigned int seq;
static char failure[128];
static char buf[64 * 1024];

static long fail(const char *what) {
  snprintf(failure, sizeof failure, "%s: %s", what, strerror(errno));
  return FAILED;
}

/* Sends one inet_diag request; `each` sees every socket in the answer and returns nonzero to keep it. */
static long ask(struct inet_diag_req_v2 *req, int dump, long (*each)(const struct inet_diag_msg *, void *), void *arg) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
  msg.nlh.nlmsg_seq = ++seq;
  msg.req = *req;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(nl, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return fail("sendto");

  long found = NONE;
  int answered = 0;
  for (;;) {
    ssize_t n = recv(nl, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("recv");
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue; /* a late part of an earlier answer */
      if (h->nlmsg_type == NLMSG_DONE) return found;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        /* A lookup that finds nothing answers ENOENT; anything else means no sock_diag for us. */
        if (e->error == -ENOENT) return found;
        errno = -e->error;
        return fail("sock_diag");
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      answered = 1;
      long uid = each(NLMSG_DATA(h), arg);
      if (uid != NONE && found == NONE) found = uid;
      /* Also a late answer may rank higher: `each` keeps the best it saw in `arg`. */
    }
    /* A lookup is answered by one message of its own sequence number; a datagram of an earlier one is skipped. */
    if (!dump && answered) return found;
  }
}

static const unsigned char MAPPED_LOOPBACK[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
static const unsigned char ANY6[16] = {0};

struct best {
  int port;
  int rank; /* lower wins */
  long uid;
};

static long rank_listener(const struct inet_diag_msg *m, void *arg) {
  struct best *b = arg;
  if (ntohs(m->id.idiag_sport) != b->port) return NONE;
  int rank = 4;
  if (m->idiag_family == AF_INET) {
    uint32_t a = ntohl(m->id.idiag_src[0]);
    rank = a == INADDR_LOOPBACK ? 0 : a == INADDR_ANY ? 1 : 4;
  } else if (m->idiag_family == AF_INET6) {
    rank = !memcmp(m->id.idiag_src, MAPPED_LOOPBACK, 16) ? 2 : !memcmp(m->id.idiag_src, ANY6, 16) ? 3 : 4;
  }
  if (rank < b->rank) {
    b->rank = rank;
    b->uid = m->idiag_uid;
  }
  return NONE;
}

static long listener_uid(int port) {
  struct best b = {.port = port, .rank = 4, .uid = NONE};
  int families[] = {AF_INET, AF_INET6};
  for (int i = 0; i < 2; i++) {
    struct inet_diag_req_v2 req;
    memset(&req, 0, sizeof req);
    req.sdiag_family = families[i];
    req.sdiag_protocol = IPPROTO_TCP;
    req.idiag_states = 1 << TCP_LISTEN; /* the kernel walks only its listening table */
    if (ask(&req, 1, rank_listener, &b) == FAILED) return FAILED;
  }
  return b.uid;
}

struct accepted {
  int state;
  long uid;
};

static long keep_accepted(const struct inet_diag_msg *m, void *arg) {
  struct accepted *a = arg;
  a->state = m->idiag_state;
  a->uid = m->idiag_uid;
  return m->idiag_uid;
}

static long accepted_uid(int server_port, int client_port) {
  struct inet_diag_req_v2 req;
  memset(&req, 0, sizeof req);
  req.sdiag_family = AF_INET; /* also finds a dual-stack listener's sockets: their addresses are the same v4 ones */
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_states = ~0U;
  req.id.idiag_sport = htons(server_port);
  req.id.idiag_dport = htons(client_port);
  req.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
  req.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
  req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  struct accepted a = {.state = -1, .uid = NONE};
  long r = ask(&req, 0, keep_accepted, &a);
  if (r == FAILED) return FAILED;
  if (a.state < 0) return NONE;
  /* Without such a connection the kernel's lookup answers the port's listener: not known (yet),
   * as /proc would say. A connection not accepted yet is a request socket, listed without a
   * uid: it is its listener's, the one a connection to the port reaches. */
  if (a.state == TCP_LISTEN) return NONE;
  if (a.state == TCP_SYN_RECV || a.state == 12 /* TCP_NEW_SYN_RECV */) return listener_uid(server_port);
  return a.uid;
}

static int valid_port(long p) { return p > 0 && p < 65536; }

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) fail("socket(NETLINK_SOCK_DIAG)");
  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    char kind = 0;
    long a = 0, b = 0;
    int end1 = -1, end2 = -1;
    /* One answer per whole line: a longer one is read to its end and refused as one. */
    int whole = strchr(line, '\n') != NULL;
    if (!whole)
      for (int c = getchar(); c != EOF && c != '\n'; c = getchar()) {
      }
    int n = sscanf(line, "%c %ld%n %ld%n", &kind, &a, &end1, &b, &end2);
    long uid;
    if (nl < 0)
      uid = FAILED;
    else if (whole && kind == 'L' && n == 2 && line[end1] == '\n' && valid_port(a))
      uid = listener_uid((int)a);
    else if (whole && kind == 'A' && n == 3 && line[end2] == '\n' && valid_port(a) && valid_port(b))
      uid = accepted_uid((int)a, (int)b);
    else {
      snprintf(failure, sizeof failure, "bad request");
      uid = FAILED;
    }
    if (uid == FAILED)
      printf("E %s\n", failure);
    else if (uid == NONE)
      printf("-\n");
    else
      printf("%ld\n", uid);
  }
  return 0;
}
