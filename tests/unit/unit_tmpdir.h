/* A scratch directory for a unit test binary: tmpdir_make in the group's
 * setup (dir becomes /tmp/mf-NAME-test-XXXXXX), tmpdir_remove in its
 * teardown (the directory and all in it). Both return 0 or -1, as cmocka's
 * setup and teardown do. */
#ifndef MF_TESTS_UNIT_TMPDIR_H
#define MF_TESTS_UNIT_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[256];

static int tmpdir_make(const char *name)
{
    snprintf(dir, sizeof dir, "/tmp/mf-%s-test-XXXXXX", name);
    return mkdtemp(dir) ? 0 : -1;
}

static int tmpdir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* With TMPDIR_NAME defined before the include: cmocka setup and teardown
 * that only make and remove the directory. */
#ifdef TMPDIR_NAME
static int tmpdir_setup(void **state)
{
    (void)state;
    return tmpdir_make(TMPDIR_NAME);
}

static int tmpdir_teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}
#endif

#endif
