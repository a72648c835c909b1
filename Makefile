EXTENSION = health_score
# The version lives in one place, health_score.control.
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = health_score
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script of the version under development is assembled from one file per layer
# (kernels, catalog, scores, ...), in this order, so each layer can be read on its own.
# Released versions are frozen in versions/, beside the upgrade scripts between them.
EXT_SQL_PARTS = $(addprefix src/sql/, kernels.sql catalog.sql scores.sql churn.sql \
                                      views.sql history.sql access.sql citus.sql)
EXT_SQL = build/$(EXTENSION)--$(EXTVERSION).sql

DATA_built = $(EXT_SQL)
DATA = $(filter-out versions/$(EXTENSION)--$(EXTVERSION).sql, $(wildcard versions/*.sql))
EXTRA_CLEAN = build

# pg_regress runs setup first (it defines helpers), then every other sql/NAME.sql.
REGRESS = setup $(sort $(filter-out setup, $(basename $(notdir $(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

# Warnings are errors in the test suite and CI (scripts/test builds with COPT=-Werror), not here.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXT_SQL): $(EXT_SQL_PARTS)
	@mkdir -p $(dir $@)
	cat $^ > $@

# make dist: the distribution PGXN takes, from the last commit.
.PHONY: dist test demo
dist:
	@mkdir -p build
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o build/$(EXTENSION)-$(EXTVERSION).zip HEAD
test:
	scripts/test
demo:
	scripts/demo
