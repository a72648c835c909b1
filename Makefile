EXTENSION = health_score
EXTVERSION = 0.1.0

MODULE_big = health_score
OBJS = src/health_score.o src/scale.o src/composite.o src/decay.o src/latest.o

# The install script is assembled from one file per layer, in this order, so each layer
# (kernels, catalog, scores, views, ...) can be read and reviewed on its own.
EXT_SQL_PARTS = sql/install/kernels.sql sql/install/catalog.sql
EXT_SQL = sql/$(EXTENSION)--$(EXTVERSION).sql

DATA = $(EXT_SQL)
EXTRA_CLEAN = $(EXT_SQL)

REGRESS = setup kernels kernels_errors
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

all: $(EXT_SQL)

$(EXT_SQL): $(EXT_SQL_PARTS)
	cat $^ > $@

.PHONY: test demo
test:
	scripts/test
demo:
	scripts/demo
