# tests/fuzz/fuzz.mk - coverage-guided fuzzing of Parley's parsers with
# libFuzzer (clang).  Included at the end of the Makefile
# (`include tests/fuzz/fuzz.mk`), or used on its own with
# `make -f Makefile -f tests/fuzz/fuzz.mk <target>`:
#
#   make fuzz-build   build every fuzzer into $(BUILD)/fuzz/
#   make fuzz         run each fuzzer for FUZZ_SECONDS (default 600) on its
#                     corpus in $(BUILD)/fuzz/corpus/ and print its
#                     executions; fails if any fuzzer finds a crash or leak
#   make fuzz-smoke   the same for 10 s each (for CI)
#   make fuzz-run-<name>, fuzz-smoke-<name>   one fuzzer
#
# `make -j2 fuzz` runs two fuzzers at a time.  FUZZ_FLAGS passes extra
# libFuzzer flags (e.g. FUZZ_FLAGS=-max_len=16384; not -jobs, whose
# workers log elsewhere).  See tests/fuzz/README.md.
#
# The project sources are compiled again with clang and
# -fsanitize=fuzzer-no-link,address,undefined into $(BUILD)/fuzz/obj/; each
# fuzzer links the objects of its part as the unit tests do (the plugin's
# with tests/unit/broker_stubs.c for the broker calls).

# Read once, even when both the Makefile includes this file and it is
# named with -f.
ifndef PARLEY_FUZZ_MK
PARLEY_FUZZ_MK := 1

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_FLAGS ?=

FUZZ_NAMES := token base64url ids utf8 \
	topic_acl payload identity \
	router query request bodies validate password config permissions

FUZZ_DIR := $(or $(BUILD),build)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# The project's warnings without -Werror for its sources (clang may warn
# where gcc does not, and that must not stop fuzzing); the harnesses
# themselves build with -Werror.  No _FORTIFY_SOURCE: ASan does that job.
FUZZ_CFLAGS = -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra \
	-Wshadow -Wstrict-prototypes -D_GNU_SOURCE -pthread -I. -Icommon \
	$(PKG_CFLAGS)
FUZZ_LIBS = $(PKG_LIBS) -pthread

FUZZ_COMMON_SRC := $(or $(COMMON_SRC),$(wildcard common/*.c))
FUZZ_PLUGIN_SRC := $(filter-out plugin/plugin.c,\
	$(or $(PLUGIN_SRC),$(wildcard plugin/*.c))) tests/unit/broker_stubs.c
FUZZ_API_SRC := $(filter-out httpapi/main.c,\
	$(or $(API_SRC),$(wildcard httpapi/*.c)))

fuzz_obj = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))
FUZZ_COMMON_OBJ := $(call fuzz_obj,$(FUZZ_COMMON_SRC))
FUZZ_PLUGIN_OBJ := $(FUZZ_COMMON_OBJ) $(call fuzz_obj,$(FUZZ_PLUGIN_SRC))
FUZZ_API_OBJ := $(FUZZ_COMMON_OBJ) $(call fuzz_obj,$(FUZZ_API_SRC))

# Which objects each fuzzer links.
FUZZ_OBJ_token := $(FUZZ_COMMON_OBJ)
FUZZ_OBJ_base64url := $(FUZZ_COMMON_OBJ) $(call fuzz_obj,httpapi/encoding.c)
FUZZ_OBJ_ids := $(FUZZ_COMMON_OBJ)
FUZZ_OBJ_utf8 := $(FUZZ_COMMON_OBJ)
FUZZ_OBJ_topic_acl := $(FUZZ_PLUGIN_OBJ)
FUZZ_OBJ_payload := $(FUZZ_PLUGIN_OBJ)
FUZZ_OBJ_identity := $(FUZZ_PLUGIN_OBJ)
FUZZ_OBJ_router := $(FUZZ_API_OBJ)
FUZZ_OBJ_query := $(FUZZ_API_OBJ)
FUZZ_OBJ_request := $(FUZZ_API_OBJ)
FUZZ_OBJ_bodies := $(FUZZ_API_OBJ)
FUZZ_OBJ_validate := $(FUZZ_API_OBJ)
FUZZ_OBJ_password := $(FUZZ_API_OBJ)
FUZZ_OBJ_config := $(FUZZ_API_OBJ)
FUZZ_OBJ_permissions := $(FUZZ_API_OBJ)

FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz-build fuzz fuzz-smoke \
	$(FUZZ_NAMES:%=fuzz-run-%) $(FUZZ_NAMES:%=fuzz-smoke-%)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_NAMES:%=fuzz-run-%)
	@tests/fuzz/run-fuzzer.sh --summary $(FUZZ_DIR) $(FUZZ_NAMES)

fuzz-smoke: $(FUZZ_NAMES:%=fuzz-smoke-%)
	@tests/fuzz/run-fuzzer.sh --summary $(FUZZ_DIR) $(FUZZ_NAMES)

# Project objects, instrumented for coverage but without libFuzzer's main.
# (A shorter stem than the Makefile's $(BUILD)/%.o rule, so this one wins.)
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		-MMD -MP -c $< -o $@

define FUZZ_TARGET_RULES
$(FUZZ_DIR)/fuzz_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/fuzz_common.h \
		$(FUZZ_OBJ_$(1))
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -Werror -Wmissing-prototypes $$(FUZZ_SAN) \
		-fsanitize=fuzzer -MMD -MP -MF $$@.d -o $$@ $$< \
		$(FUZZ_OBJ_$(1)) $$(FUZZ_LIBS)

fuzz-run-$(1): $(FUZZ_DIR)/fuzz_$(1)
	@tests/fuzz/run-fuzzer.sh $(1) $$(FUZZ_SECONDS) $(FUZZ_DIR) $$(FUZZ_FLAGS)

fuzz-smoke-$(1): $(FUZZ_DIR)/fuzz_$(1)
	@tests/fuzz/run-fuzzer.sh $(1) $$(FUZZ_SMOKE_SECONDS) $(FUZZ_DIR) \
		$$(FUZZ_FLAGS)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_TARGET_RULES,$(n))))

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)

endif # PARLEY_FUZZ_MK
