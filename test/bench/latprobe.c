// A C cross-check for the bench's latency workload (latency.ts): one thread, one publisher and one
// subscriber connection, QoS 1, 64 B, open loop paced with ppoll, send time in the payload and the
// receive time taken right after read(). Used to check that the Node generator measures the broker:
//   gcc -O2 -o /tmp/latprobe test/bench/latprobe.c && /tmp/latprobe <broker port> 5000 5 0.5
// (port, msg/s, measured seconds, warm-up seconds). Prints n, p50, p99, p99.9 and max in ms.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static int conn(int port, const char *id) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(0x7f000001);
  if (connect(fd, (void *)&a, sizeof a)) { perror("connect"); exit(1); }
  int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  unsigned char p[64]; int il = strlen(id); int rl = 10 + 2 + il; int n = 0;
  p[n++] = 0x10; p[n++] = rl; p[n++] = 0; p[n++] = 4; memcpy(p + n, "MQTT", 4); n += 4; p[n++] = 4; p[n++] = 2; p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = il; memcpy(p + n, id, il); n += il;
  write(fd, p, n); unsigned char r[4]; if (read(fd, r, 4) != 4 || r[0] != 0x20) { fprintf(stderr, "no connack\n"); exit(1); }
  return fd;
}
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: latprobe <port> <msg/s> <seconds> <warm-up seconds>\n"); return 2; }
  int port = atoi(argv[1]); double rate = atof(argv[2]), secs = atof(argv[3]), warm = atof(argv[4]);
  const char *topic = "bench/latc";
  int sub = conn(port, "latc-sub"), pub = conn(port, "latc-pub");
  unsigned char s[64]; int tl = strlen(topic); int n = 0; s[n++] = 0x82; s[n++] = 2 + 2 + tl + 1; s[n++] = 0; s[n++] = 1; s[n++] = 0; s[n++] = tl; memcpy(s + n, topic, tl); n += tl; s[n++] = 1;
  write(sub, s, n); unsigned char r[5]; if (read(sub, r, 5) != 5) { fprintf(stderr, "no suback\n"); exit(1); }
  // PUBLISH QoS 1: 0x32 rl, topic, id, payload 64
  unsigned char pk[128]; int pl = 64; n = 0; pk[n++] = 0x32; pk[n++] = 2 + tl + 2 + pl; pk[n++] = 0; pk[n++] = tl; memcpy(pk + n, topic, tl); n += tl; int idOff = n; n += 2; int payOff = n; memset(pk + n, 'a', pl); n += pl; int plen = n;
  size_t cap = (size_t)(rate * (secs + warm + 5)); double *lat = malloc(cap * sizeof(double)); size_t nl = 0;
  double interval = 1000.0 / rate, t0 = now_ms() + 5, from = t0 + warm * 1000, to = from + secs * 1000, due = t0; unsigned seq = 0, id = 1; long sent = 0, got = 0;
  unsigned char buf[65536]; int carry = 0; unsigned char acks[65536];
  for (;;) {
    double t = now_ms(); if (t >= to && got >= sent) break; if (t >= to + 5000) break;
    double wait = due - t; if (t >= to) wait = 10;
    struct timespec ts = {0, 0}; if (wait > 0) { ts.tv_sec = (time_t)(wait / 1000); ts.tv_nsec = (long)((wait - ts.tv_sec * 1000) * 1e6); }
    struct pollfd fds[2] = {{sub, POLLIN, 0}, {pub, POLLIN, 0}};
    int k = ppoll(fds, 2, wait > 0 ? &ts : &(struct timespec){0, 0}, NULL);
    if (k > 0 && (fds[0].revents & POLLIN)) {
      ssize_t m = read(sub, buf + carry, sizeof buf - carry); double rt = now_ms(); if (m <= 0) break; m += carry; int off = 0, na = 0;
      while (off + 2 <= m) { int rl2 = buf[off + 1]; if (rl2 & 0x80) { fprintf(stderr, "big\n"); exit(1); } if (off + 2 + rl2 > m) break;
        if ((buf[off] >> 4) == 3) { int q = off + 2; int tl2 = buf[q] << 8 | buf[q + 1]; q += 2 + tl2; acks[na * 4] = 0x40; acks[na * 4 + 1] = 2; acks[na * 4 + 2] = buf[q]; acks[na * 4 + 3] = buf[q + 1]; na++; q += 2; double st; memcpy(&st, buf + q + 8, 8); if (st >= from && st < to && nl < cap) lat[nl++] = rt - st; got++; }
        off += 2 + rl2; }
      if (na) write(sub, acks, na * 4);
      carry = m - off;
      memmove(buf, buf + off, carry);
    }
    if (k > 0 && (fds[1].revents & POLLIN)) { unsigned char d[65536]; read(pub, d, sizeof d); }
    t = now_ms();
    if (t < to && t >= due) {
      pk[idOff] = id >> 8; pk[idOff + 1] = id & 255; id = id == 65535 ? 1 : id + 1; memcpy(pk + payOff + 4, &seq, 4); seq++; memcpy(pk + payOff + 8, &t, 8);
      write(pub, pk, plen); sent++; due += interval; if (t - due > 2) due = t;
    }
  }
  qsort(lat, nl, sizeof(double), cmp);
  printf("C probe: n %zu sent %ld got %ld p50 %.3f p99 %.3f p999 %.3f max %.3f ms\n", nl, sent, got, lat[nl / 2], lat[(size_t)(nl * 0.99)], lat[(size_t)(nl * 0.999)], lat[nl - 1]);
  return 0;
}
