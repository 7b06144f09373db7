# Sourced first (before lib.sh) by the tests that meet the node's hugepage pools, with -x by the one that
# changes them (test_hugepages_api.sh) and -s by those that check the Node's allocatable memory to the byte
# (the pools come off it): re-runs the test under a lock that both builds' passes share, so that none of them
# sees the pools change under it. flock -o: what the test starts never holds the lock.
if [ -z "${HUGEPAGES_LOCKED:-}" ]; then
  HUGEPAGES_LOCKED=1 exec flock -o "$1" -w 300 /tmp/cubelet-test-hugepages.lock "$0"
fi
