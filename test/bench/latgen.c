// The latency workload's generator in C (latency-c.ts builds and runs it; latency.ts is the
// Node fallback): one publisher and one subscriber connection on one thread, QoS 1, open loop.
//
// Why C: on a 2-CPU machine the generator shares the cores with the broker, and every
// microsecond it spends is a microsecond a broker thread may wait for a core. The Node generator
// (three threads) used 52-64 % of a core at 5,000 msg/s, this one 25-50 %; a broker that itself
// uses more CPU per message is hit harder by that contention, which is the generator's doing, not
// the broker's.
//
// How it measures, the same as the Node generator:
// - one PUBLISH per slot of an even schedule (200 us at 5,000 msg/s), paced with ppoll (no timer
//   ticks), each stamped with CLOCK_MONOTONIC just before its write; more than MAX_BEHIND_MS
//   behind, missed slots are skipped and counted, never sent in a burst;
// - the receive time is taken right after read() returns; latency = receive - send time of the
//   messages *sent* in the measured window;
// - sequence numbers in the payload give unique, duplicate and reordered counts; what has not
//   arrived after the drain patience without progress is lost.
//
//   cc -O2 -o latgen test/bench/latgen.c
//   latgen <host> <port> <protocol 4|5> <client id prefix> <topic> <payload bytes> <msg/s>
//          <warm-up ms> <window ms> <drain patience ms> <latencies out file>
// Prints "ready" once both connections are up and the subscription is granted, starts on a
// line "go" on stdin, and prints one JSON line with the counts; the window's latencies (ms) go to
// the out file as float64.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BEHIND_MS 2.0
#define MAX_IN_FLIGHT 60000 /* packet ids wrap at 65535 */
#define BUF (256 * 1024)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static void fail(const char *what) {
  printf("{\"error\":\"%s\"}\n", what);
  fflush(stdout);
  exit(1);
}

static int put_vbi(unsigned char *p, size_t v) {
  int n = 0;
  do {
    unsigned char b = v & 0x7f;
    v >>= 7;
    p[n++] = b | (v ? 0x80 : 0);
  } while (v);
  return n;
}

/* The Variable Byte Integer at p[at] within p[0, len): its length in bytes, 0 if cut by len, -1 if over 4 bytes. */
static int get_vbi(const unsigned char *p, long len, long at, size_t *value) {
  size_t v = 0;
  for (int i = 0; i < 4; i++) {
    if (at + i >= len) return 0;
    v |= (size_t)(p[at + i] & 0x7f) << (7 * i);
    if (!(p[at + i] & 0x80)) {
      *value = v;
      return i + 1;
    }
  }
  return -1;
}

/* Length of the packet at p (header + body) if whole within len, 0 if not yet, -1 if malformed; *body gets the body offset. */
static long packet_at(const unsigned char *p, long len, long *body) {
  size_t rl;
  int n = get_vbi(p, len, 1, &rl);
  if (n <= 0) return n;
  *body = 1 + n;
  return 1 + n + (long)rl <= len ? 1 + n + (long)rl : 0;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The bench's percentile (common.ts): the ceil(p/100 * n)-th smallest. */
static double at(const double *sorted, size_t n, double p) {
  if (n == 0) return -1;
  double x = p / 100 * n;
  long i = (long)x;
  if ((double)i < x) i++; /* ceil without libm */
  i--;
  return sorted[i < 0 ? 0 : (size_t)i >= n ? n - 1 : (size_t)i];
}

static void write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) fail("write to the broker failed");
    p += w;
    n -= (size_t)w;
  }
}

static int dial(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) fail("host must be an IPv4 address");
  if (connect(fd, (void *)&a, sizeof a)) fail("connect refused");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Blocking read of the next whole packet during the handshake; returns its first byte. */
static unsigned char handshake_packet(int fd, unsigned char *buf, long *body, long *end) {
  long len = 0;
  for (;;) {
    long n = packet_at(buf, len, body);
    if (n < 0) fail("malformed packet from the broker");
    if (n > 0) {
      *end = n;
      return buf[0];
    }
    struct pollfd f = {fd, POLLIN, 0};
    if (poll(&f, 1, 10000) <= 0) fail("no answer from the broker within 10 s");
    ssize_t r = read(fd, buf + len, BUF - len);
    if (r <= 0) fail("the broker closed the connection during the handshake");
    len += r;
  }
}

/* Sends the packet `first`, body[0, n); returns the answer's first byte, *ans its body, *len the body's length. */
static unsigned char request(int fd, unsigned char first, const unsigned char *body, size_t n, const unsigned char **ans, long *len) {
  unsigned char p[600];
  if (n > sizeof p - 5) fail("client id or topic too long");
  p[0] = first;
  int h = 1 + put_vbi(p + 1, n);
  memcpy(p + h, body, n);
  write_all(fd, p, h + n);
  static unsigned char in[BUF];
  long b, e;
  unsigned char type = handshake_packet(fd, in, &b, &e);
  *ans = in + b;
  *len = e - b;
  return type;
}

static int mqtt_connect(const char *host, int port, int v5, const char *id) {
  int fd = dial(host, port);
  unsigned char body[600];
  size_t il = strlen(id), n = 0;
  if (il > 500) fail("client id too long");
  body[n++] = 0, body[n++] = 4, memcpy(body + n, "MQTT", 4), n += 4;
  body[n++] = v5 ? 5 : 4, body[n++] = 2 /* clean */, body[n++] = 0, body[n++] = 0 /* no keep-alive */;
  if (v5) body[n++] = 0; /* no properties */
  body[n++] = il >> 8, body[n++] = il & 255, memcpy(body + n, id, il), n += il;
  const unsigned char *ack;
  long len;
  /* CONNACK: acknowledge flags, then the return code (3.1.1) or reason code (5.0) */
  if (request(fd, 0x10, body, n, &ack, &len) != 0x20 || len < 2 || ack[1] != 0) fail("CONNECT refused");
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 12) {
    fprintf(stderr, "usage: latgen <host> <port> <4|5> <client id prefix> <topic> <payload> <msg/s> <warm-up ms> <window ms> <drain ms> <out file>\n");
    return 2;
  }
  const char *host = argv[1], *prefix = argv[4], *topic = argv[5], *outPath = argv[11];
  int port = atoi(argv[2]), v5 = atoi(argv[3]) == 5;
  size_t payload = (size_t)atol(argv[6]);
  double rate = atof(argv[7]), warm = atof(argv[8]), window = atof(argv[9]), patience = atof(argv[10]);
  prctl(PR_SET_TIMERSLACK, 1UL); /* ppoll wakes at the slot, not up to 50 us after it */
  if (payload < 16) fail("payload must be at least 16 bytes (sequence and send time)");
  char subId[256], pubId[256];
  snprintf(subId, sizeof subId, "%s-sub", prefix);
  snprintf(pubId, sizeof pubId, "%s-pub", prefix);
  size_t tl = strlen(topic);

  int sub = mqtt_connect(host, port, v5, subId);
  {
    unsigned char body[600];
    size_t n = 0;
    if (tl > 500) fail("topic too long");
    body[n++] = 0, body[n++] = 1;
    if (v5) body[n++] = 0;
    body[n++] = tl >> 8, body[n++] = tl & 255, memcpy(body + n, topic, tl), n += tl, body[n++] = 1;
    const unsigned char *ack;
    long len;
    /* SUBACK: the granted QoS or reason code is its last byte */
    if (request(sub, 0x82, body, n, &ack, &len) != 0x90 || len < 3 || ack[len - 1] >= 0x80) fail("SUBSCRIBE refused");
  }
  int pub = mqtt_connect(host, port, v5, pubId);

  // The PUBLISH, built once: QoS 1, packet id and payload patched per message.
  size_t body = 2 + tl + 2 + (v5 ? 1 : 0) + payload;
  unsigned char *pk = malloc(body + 8);
  size_t n = 0;
  pk[n++] = 0x32;
  n += put_vbi(pk + n, body);
  pk[n++] = tl >> 8, pk[n++] = tl & 255, memcpy(pk + n, topic, tl), n += tl;
  size_t idOff = n;
  n += 2;
  if (v5) pk[n++] = 0;
  size_t payOff = n;
  memset(pk + n, 'a', payload);
  n += payload;
  size_t plen = n;

  double interval = 1000.0 / rate;
  size_t cap = (size_t)(rate * (warm + window + 2000) / 1000) + 1024;
  double *lat = malloc(cap * sizeof(double)), *wake = malloc(cap * sizeof(double));
  unsigned char *seen = calloc(cap / 8 + 1, 1);
  size_t nl = 0, nw = 0;
  long sent = 0, sentInWindow = 0, skipped = 0, unique = 0, dups = 0, reordered = 0, pubacks = 0, maxSeq = -1;
  unsigned id = 1;

  printf("ready\n");
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0) fail("no go");

  double t0 = now_ms() + 5, from = t0 + warm, to = from + window, due = t0;
  double cpuFrom = -1, cpuTo = -1, lastProgress = 0, gap = 0;
  static unsigned char sbuf[BUF], pbuf[BUF], acks[BUF];
  long scarry = 0, pcarry = 0;
  for (;;) {
    double t = now_ms();
    if (cpuFrom < 0 && t >= from) cpuFrom = cpu_ms();
    if (t >= to) {
      if (cpuTo < 0) cpuTo = cpu_ms(), lastProgress = t;
      if (unique >= sent) break;
      if (t - lastProgress > patience) break;
      if (t - lastProgress > gap) gap = t - lastProgress;
    }
    double wait = t < to ? due - t : 10;
    struct timespec ts = {0, 0};
    if (wait > 0) ts.tv_sec = (time_t)(wait / 1000), ts.tv_nsec = (long)((wait - ts.tv_sec * 1000) * 1e6);
    struct pollfd fds[2] = {{sub, POLLIN, 0}, {pub, POLLIN, 0}};
    int k = ppoll(fds, 2, &ts, NULL);
    if (k > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t m = read(sub, sbuf + scarry, BUF - scarry);
      double rt = now_ms();
      if (m <= 0) fail("the broker closed the subscriber's connection");
      m += scarry;
      long off = 0, na = 0, b;
      for (;;) {
        long len = packet_at(sbuf + off, m - off, &b);
        if (len < 0) fail("malformed packet from the broker");
        if (len == 0) break;
        const unsigned char *p = sbuf + off;
        if ((p[0] >> 4) == 3) {
          long q = b + 2 + (p[b] << 8 | p[b + 1]);
          if (((p[0] >> 1) & 3) > 0) {
            acks[na * 4] = 0x40, acks[na * 4 + 1] = 2, acks[na * 4 + 2] = p[q], acks[na * 4 + 3] = p[q + 1];
            na++;
            q += 2;
          }
          if (v5) {
            size_t pl;
            int k = get_vbi(p, len, q, &pl);
            if (k <= 0) fail("malformed PUBLISH properties from the broker");
            q += k + (long)pl;
          }
          if (len - q >= 16) {
            uint32_t seq;
            double st;
            memcpy(&seq, p + q + 4, 4);
            memcpy(&st, p + q + 8, 8);
            if (seq < cap && (seen[seq >> 3] & (1 << (seq & 7)))) {
              dups++;
            } else {
              if (seq < cap) seen[seq >> 3] |= 1 << (seq & 7);
              unique++;
              lastProgress = rt;
              if ((long)seq > maxSeq) maxSeq = seq;
              else reordered++;
              if (st >= from && st < to && nl < cap) lat[nl++] = rt - st;
            }
          }
        }
        off += len;
      }
      if (na) write_all(sub, acks, na * 4);
      scarry = m - off;
      memmove(sbuf, sbuf + off, scarry);
    }
    if (k > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t m = read(pub, pbuf + pcarry, BUF - pcarry);
      if (m <= 0) fail("the broker closed the publisher's connection");
      m += pcarry;
      long off = 0, b;
      for (;;) {
        long len = packet_at(pbuf + off, m - off, &b);
        if (len < 0) fail("malformed packet from the broker");
        if (len == 0) break;
        if ((pbuf[off] >> 4) == 4) pubacks++;
        off += len;
      }
      pcarry = m - off;
      memmove(pbuf, pbuf + off, pcarry);
    }
    t = now_ms();
    if (t < to && t >= due && sent - pubacks < MAX_IN_FLIGHT) {
      int inWindow = t >= from;
      if (inWindow && nw < cap) wake[nw++] = t - due;
      pk[idOff] = id >> 8, pk[idOff + 1] = id & 255;
      id = id == 65535 ? 1 : id + 1;
      uint32_t seq = (uint32_t)sent;
      memcpy(pk + payOff + 4, &seq, 4);
      memcpy(pk + payOff + 8, &t, 8);
      write_all(pub, pk, plen);
      sent++;
      if (inWindow) sentInWindow++;
      due += interval;
      if (t - due > MAX_BEHIND_MS) {
        long missed = (long)((t - due) / interval);
        if (inWindow) skipped += missed;
        due += missed * interval;
      }
    }
  }
  write_all(pub, (const unsigned char *)"\xe0\x00", 2);
  write_all(sub, (const unsigned char *)"\xe0\x00", 2);

  FILE *out = fopen(outPath, "wb");
  if (!out || fwrite(lat, sizeof(double), nl, out) != nl) fail("cannot write the latencies file");
  fclose(out);
  qsort(wake, nw, sizeof(double), cmp);
  printf("{\"total\":%ld,\"sentInWindow\":%ld,\"skipped\":%ld,\"unique\":%ld,\"dups\":%ld,\"reordered\":%ld,\"n\":%zu,"
         "\"wakeP50\":%.4f,\"wakeP99\":%.4f,\"wakeMax\":%.4f,\"cpuMs\":%.2f,\"windowMs\":%.2f,\"drainGapMs\":%.0f}\n",
         sent, sentInWindow, skipped, unique, dups, reordered, nl, at(wake, nw, 50), at(wake, nw, 99), at(wake, nw, 100),
         cpuTo - cpuFrom, window, gap);
  fflush(stdout);
  close(pub);
  close(sub);
  return 0;
}
