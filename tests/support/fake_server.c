/* fake_server.c — a stand-in for a database server in compliance tests: copied to a file named
 * postgres, mongod or java and started with the server's command line, it does nothing but wait
 * to be killed. With RP_FAKE_CHROOT=<dir> in its environment it first chroot()s there (root
 * only), so that its /proc/<pid>/root is that directory, as a container's would be. */
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	const char *root = getenv("RP_FAKE_CHROOT");

	if (root != NULL && (chroot(root) != 0 || chdir("/") != 0))
		return 3;
	for (;;)
		pause();
}
