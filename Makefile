EXTENSION = health_score
EXTVERSION = 0.1.0

MODULE_big = health_score
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from one file per layer, in this order, so each layer
# (kernels, catalog, scores, views, ...) can be read and reviewed on its own.
EXT_SQL_PARTS = sql/install/kernels.sql sql/install/catalog.sql sql/install/scores.sql \
                sql/install/churn.sql sql/install/views.sql sql/install/history.sql \
                sql/install/access.sql
EXT_SQL = sql/$(EXTENSION)--$(EXTVERSION).sql

DATA = $(EXT_SQL)
EXTRA_CLEAN = $(EXT_SQL)

# pg_regress runs setup first (it defines helpers), then every other sql/NAME.sql.
REGRESS = setup $(sort $(filter-out setup health_score--%,$(basename $(notdir $(wildcard sql/*.sql)))))
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
