/* The ceiling of bench/classify.sh: GMime parsing each message and walking
 * its MIME tree, nothing else. Reads every regular file of each DIR (or
 * each FILE) the way `mailfleet classify` does (whole into memory, parsed
 * from a memory stream; the directory's file types from readdir) and prints
 * "N messages, P parts, F unreadable".
 * Built by the bench: cc -O2 gmime_parse.c $(pkg-config --cflags --libs gmime-3.0)
 * usage: gmime_parse DIR|FILE... */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *buf;
static size_t cap;
static unsigned long messages, parts, unreadable;

static void count_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
    (void)parent;
    (void)part;
    (*(unsigned long *)data)++;
}

static void parse_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        unreadable++;
        return;
    }
    size_t n = 0;
    ssize_t got;
    for (;;) {
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (!buf) {
                fprintf(stderr, "gmime_parse: out of memory\n");
                exit(1);
            }
        }
        if ((got = read(fd, buf + n, cap - n - 1)) <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (got < 0) {
        unreadable++;
        return;
    }
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(buf, n);
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(st);
    messages++;
    if (!m)
        return;
    g_mime_message_foreach(m, count_part, &parts);
    g_object_unref(m);
}

static void parse_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) {
        fprintf(stderr, "gmime_parse: %s: %s\n", dir, strerror(errno));
        exit(1);
    }
    while ((e = readdir(d))) {
        char path[4096];
        struct stat sb;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_REG || ((e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) &&
                                    stat(path, &sb) == 0 && S_ISREG(sb.st_mode)))
            parse_file(path);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    g_mime_init();
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
            parse_dir(argv[i]);
        else
            parse_file(argv[i]);
    }
    printf("%lu messages, %lu parts, %lu unreadable\n", messages, parts, unreadable);
    free(buf);
    g_mime_shutdown();
    return 0;
}
