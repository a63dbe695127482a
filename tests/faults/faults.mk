# tests/faults/faults.mk - fault injection: the broker killed, PostgreSQL
# restarted or frozen, parley-api killed, each under load on a private stack
# (see tests/faults/test_faults.py).  Included at the end of the Makefile,
# or used with `make -f Makefile -f tests/faults/faults.mk test-faults`:
#
#   make test-faults   builds, then runs tests/faults (about 6 minutes);
#                      prints per scenario
#                      "<scenario>: sent=N accepted=N stored=N duplicates=N lost=N"
#
# FAULTS_ARGS passes extra pytest arguments (e.g. FAULTS_ARGS='-k freeze').
# BUILD and SAN select the binaries as for `make integration`.

# Read once, even when both the Makefile includes this file and it is
# named with -f.
ifndef PARLEY_FAULTS_MK
PARLEY_FAULTS_MK := 1

FAULTS_ARGS ?=

.PHONY: test-faults
test-faults: all
	PARLEY_BUILD=$(BUILD) PARLEY_SAN=$(SAN) /usr/bin/python3 -m pytest -q -p no:cacheprovider \
		tests/faults $(FAULTS_ARGS)

endif
