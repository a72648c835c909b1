/*
 * bench/scale_gen.c: a book of any size at the density of the demo dataset, fast enough for a
 * million accounts, as COPY text on stdout.
 *
 *   scale_gen accounts N END_DATE                  accounts (account_id, name, segment, plan,
 *                                                  owner, mrr, started_on, churned_on)
 *   scale_gen observations N END_DATE FROM TO      the observations of the days FROM to TO - 1
 *                                                  (numbers of days after END_DATE - 365, also
 *                                                  beyond the year), day
 *                                                  after day, as daily loads store them
 *
 * The story, the streams and their formulas are those of examples/demo/generate.sql (segments,
 * churners, expanders and sliding accounts, accounts lacking groups of metrics, daily logins,
 * weekly, monthly and quarterly readings, support tickets; about 290 observations per account
 * and year); only the random draws differ: a 64-bit hash of the account, the day and the
 * stream instead of md5 in SQL, so the same arguments give the same rows on every machine, a
 * day's rows do not depend on the days generated with it, and the first N accounts of a bigger
 * book are the N accounts of a smaller one.
 *
 *   cc -O2 -o scale_gen bench/scale_gen.c -lm
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YEAR_DAYS 365

/* splitmix64: a good 64-bit mix of a 64-bit key */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* the k-th uniform draw in [0, 1) of an account (and day, and stream) */
static double
u(long account, long day, int stream, int k)
{
	uint64_t	h = mix(mix(mix((uint64_t) account) ^ (uint64_t) (day + 1000000)) ^ (uint64_t) (stream * 16 + k));

	return (double) (h >> 11) / 9007199254740992.0;
}

static double
clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* round half away from zero to places decimals, as numeric's round */
static double
round_to(double v, int places)
{
	double		f = places == 0 ? 1 : places == 1 ? 10 : 100;

	return round(v * f) / f;
}

/* days since 1970-01-01 from a civil date, and back (Howard Hinnant's algorithms) */
static long
days_from_civil(long y, long m, long d)
{
	long		era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(long z, int *y, int *m, int *d)
{
	long		era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = (int) (yoe + era * 400 + (*m <= 2));
}

enum segment {ENTERPRISE, MID_MARKET, SMB};
enum kind {STEADY, CHURNER, EXPANDER, SLIDING};

typedef struct Account
{
	long		i;
	char		id[24];
	enum segment segment;
	enum kind	kind;
	const char *plan;
	const char *owner;
	int			seats;
	long		started_on;		/* days since 1970-01-01 */
	long		churned_on;		/* or -1 */
	long		decline_start;	/* or -1 */
	double		health, severity, phase, workflow_bias, mrr;
	int			billing_only, no_telemetry, no_surveys, no_crm, no_outcomes, has_qbr;
	int			month_day, quarter_month, week_day, contract_term;
} Account;

static void
account_make(long i, long first_day, long end_date, Account *a)
{
	static const char *plans[3][4] = {{"business", "enterprise", "enterprise", "enterprise"},
	{"team", "business", "business", "enterprise"}, {"starter", "starter", "team", "business"}};
	static const char *owners[3][3] = {{"csm_alice", "csm_bob", "csm_bob"},
	{"csm_carol", "csm_dave", "csm_erin"}, {"csm_frank", "csm_grace", "csm_heidi"}};
	static const int terms[3][4] = {{12, 24, 24, 36}, {12, 12, 12, 24}, {1, 1, 1, 12}};
	double		u_seg = u(i, -1, 0, 0), u_fate = u(i, -1, 0, 1), u_start = u(i, -1, 0, 2);
	double		u_gaps = u(i, -1, 0, 3), u_gaps2 = u(i, -1, 1, 0);
	double		churn_share;
	double		price;

	memset(a, 0, sizeof(*a));
	a->i = i;
	snprintf(a->id, sizeof(a->id), "ACC-%05ld", i);
	a->segment = u_seg < 0.15 ? ENTERPRISE : u_seg < 0.50 ? MID_MARKET : SMB;
	a->plan = plans[a->segment][(int) (u(i, -1, 1, 1) * 4)];
	a->seats = a->segment == ENTERPRISE ? 150 + (int) floor(1850 * pow(u(i, -1, 1, 2), 2))
		: a->segment == MID_MARKET ? 25 + (int) floor(175 * pow(u(i, -1, 1, 2), 2))
		: 3 + (int) floor(22 * pow(u(i, -1, 1, 2), 2));
	a->owner = owners[a->segment][(int) (u(i, -1, 1, 3) * (a->segment == ENTERPRISE ? 2 : 3))];
	churn_share = a->segment == ENTERPRISE ? 0.07 : a->segment == MID_MARKET ? 0.10 : 0.15;
	a->kind = u_fate < churn_share ? CHURNER : u_fate > 0.82 ? EXPANDER : u_fate > 0.72 ? SLIDING : STEADY;
	if ((a->kind == STEADY || a->kind == EXPANDER) && u_start < 0.25)
		a->started_on = first_day + 10 + (long) floor(u_start / 0.25 * 290);
	else
		a->started_on = first_day - 30 - (long) floor(u_start * 1400);
	a->churned_on = a->kind == CHURNER ? first_day + 90 + (long) floor(u(i, -1, 2, 0) * 274) : -1;
	a->health = a->kind == CHURNER ? 0.22 + 0.50 * u(i, -1, 2, 1)
		: a->kind == EXPANDER ? 0.74 + 0.22 * u(i, -1, 2, 1) : 0.25 + 0.70 * u(i, -1, 2, 1);
	price = strcmp(a->plan, "starter") == 0 ? 15 : strcmp(a->plan, "team") == 0 ? 29
		: strcmp(a->plan, "business") == 0 ? 49 : 79;
	a->mrr = round(a->seats * price * (1 - fmin(0.35, a->seats / 4000.0)));
	a->decline_start = a->kind == CHURNER ? a->churned_on - 60 - (long) floor(u(i, -1, 2, 2) * 61)
		: a->kind == SLIDING ? end_date - 30 - (long) floor(u(i, -1, 2, 2) * 91) : -1;
	a->severity = a->kind == CHURNER ? (u(i, -1, 2, 3) < 0.2 ? 0.15 : 0.55 + 0.4 * u(i, -1, 2, 3))
		: a->kind == SLIDING ? 0.50 + 0.40 * u(i, -1, 2, 3) : 0;
	a->billing_only = u_gaps < 0.015;
	a->no_telemetry = u_gaps >= 0.015 && u_gaps < 0.045;
	a->no_surveys = u_gaps2 < 0.30;
	a->no_crm = a->segment == SMB && u_gaps2 >= 0.30 && u_gaps2 < 0.60;
	a->no_outcomes = u(i, -1, 3, 0) < 0.15;
	a->has_qbr = a->segment != SMB;
	a->month_day = 1 + (int) floor(u(i, -1, 3, 1) * 28);
	a->quarter_month = (int) floor(u(i, -1, 3, 2) * 3);
	a->week_day = 1 + (int) floor(u(i, -1, 3, 3) * 5);
	a->phase = 2 * M_PI * u(i, -1, 4, 0);
	a->workflow_bias = 30 * (u(i, -1, 4, 1) - 0.5);
	a->contract_term = terms[a->segment][(int) (u(i, -1, 4, 2) * 4)];
}

static void
print_date(long day)
{
	int			y, m, d;

	civil_from_days(day, &y, &m, &d);
	printf("%04d-%02d-%02d", y, m, d);
}

static void
emit(const Account *a, const char *metric, long day, double hours, double value)
{
	long		secs = lround(hours * 3600);

	printf("%s\t%s\t", a->id, metric);
	print_date(day + secs / 86400);
	secs %= 86400;
	printf(" %02ld:%02ld:%02ld+00\t%.15g\n", secs / 3600, secs / 60 % 60, secs % 60, value);
}

/* the account's effective health on a day, 0.02-1 */
static double
effective_health(const Account *a, long day, long first_day, long end_date)
{
	double		e = a->health + (a->kind == EXPANDER ? 0.08 * (day - first_day) / 365.0 : 0)
		+ 0.04 * sin(a->phase + 2 * M_PI * (day - first_day) / 91.0);

	if (a->decline_start >= 0 && day >= a->decline_start)
	{
		long		end = a->churned_on >= 0 ? a->churned_on : end_date;
		double		t = (double) (day - a->decline_start) / (double) (end - a->decline_start > 1 ? end - a->decline_start : 1);

		e *= 1 - a->severity * pow(t, 1.5);
	}
	e *= 0.55 + 0.45 * fmin(1, (day - a->started_on) / 60.0);
	return clamp(e, 0.02, 1);
}

static void
account_day(const Account *a, long day, long first_day, long end_date)
{
	int			y, m, dom;
	int			dow = (int) (((day % 7) + 7 + 3) % 7) + 1;	/* ISO: 1970-01-01 was a Thursday */
	double		e = effective_health(a, day, first_day, end_date);
	double		u0 = u(a->i, day, 0, 0), u1 = u(a->i, day, 0, 1), u2 = u(a->i, day, 0, 2), u3 = u(a->i, day, 0, 3);
	int			telemetry = !(a->billing_only || a->no_telemetry);
	int			crm = !(a->billing_only || a->no_crm);
	double		p;

	civil_from_days(day, &y, &m, &dom);
	if (telemetry)
	{
		p = (0.02 + 0.93 * e * e) * (dow >= 6 ? 0.3 : 1);
		if (u0 < p)
			emit(a, "login", day, 7 + 12 * u0 / p, 1);
		if (dow == a->week_day)
			emit(a, "workflow_completion", day, 18, round(clamp(30 + 65 * e + a->workflow_bias + 20 * (u1 - 0.5), 0, 100)));
		if (dom == a->month_day)
		{
			double		segf = a->segment == SMB ? 0.6 : a->segment == ENTERPRISE ? 1.3 : 1;

			emit(a, "seat_penetration", day, 2, round_to(clamp(10 + 75 * e + (a->kind == EXPANDER ? 10 : 0)
															+ 12 * (u(a->i, day, 1, 0) - 0.5), 1, 100), 1));
			emit(a, "feature_adoption", day, 2, round(clamp(1 + 15 * e + 4 * (u(a->i, day, 1, 1) - 0.5), 0, 20)));
			emit(a, "integrations", day, 2, round(clamp((0.3 + 4.5 * e) * segf + (u(a->i, day, 1, 2) - 0.5), 0, 9)));
			emit(a, "power_users", day, 2, round(clamp(e * e * (3 + 0.05 * a->seats) + u(a->i, day, 1, 3) - 0.5, 0, a->seats)));
		}
	}
	if (!a->billing_only)
	{
		p = (a->segment == SMB ? 0.7 : a->segment == ENTERPRISE ? 1.6 : 1) * (0.012 + 0.2 * pow(1 - e, 2));
		if (u1 < p)
		{
			emit(a, "support_tickets", day, 8 + 10 * u1 / p, 1);
			emit(a, "support_sentiment", day, 8 + 10 * u1 / p, round_to(clamp(1.7 * e - 0.75 + 0.9 * (u2 - 0.5), -1, 1), 2));
		}
	}
	if (crm && u3 < 0.006 * e * e * e)
		emit(a, "champion_advocacy", day, 11, 1);
	if (crm && u3 > 1 - (a->kind == EXPANDER ? 0.02 : 0.003 * e * e))
		emit(a, "expansion_conversations", day, 15, 1);
	if (crm && dom == a->month_day)
	{
		emit(a, "executive_sponsor", day, 3, round(clamp(3.4 * e - 0.4 + (u(a->i, day, 2, 0) - 0.5), 0, 3)));
		emit(a, "response_time", day, 3, round_to(exp(log(4) + 5.5 * pow(1 - e, 1.3) + 0.8 * (u(a->i, day, 2, 1) - 0.5)), 1));
	}
	if (!a->billing_only && dom == a->month_day && (m - 1) % 3 == a->quarter_month)
	{
		if (a->has_qbr && !a->no_crm)
			emit(a, "qbr_participation", day, 10, u(a->i, day, 3, 0) < 0.1 + 0.9 * pow(e, 1.5) ? 1 : 0);
		if (!a->no_surveys)
		{
			emit(a, "nps", day, 10, round(clamp(1 + 9 * e + 3 * (u(a->i, day, 3, 1) - 0.5), 0, 10)));
			emit(a, "csat", day, 10, round_to(clamp(1 + 4.3 * e + 1.2 * (u(a->i, day, 3, 2) - 0.5), 1, 5), 1));
		}
	}
	if (dom == a->month_day)
	{
		double		late = round(60 * pow(1 - e, 2.2) + 6 * (u(a->i, day, 4, 0) - 0.6));

		emit(a, "payment_behaviour", day, 12, late > 0 ? late : 0);
		emit(a, "contract_term", day, 12, a->contract_term);
		if (!(a->billing_only || a->no_crm || a->no_outcomes))
		{
			emit(a, "outcome_achievement", day, 12, round(clamp(5 + 95 * pow(e, 1.2) + 16 * (u(a->i, day, 4, 1) - 0.5), 0, 100)));
			emit(a, "roi", day, 12, round_to(clamp(0.2 + 5 * pow(e, 1.5) + 0.8 * (u(a->i, day, 4, 2) - 0.5), 0, 10), 1));
			emit(a, "budget_trend", day, 12, round(clamp(-40 + 55 * e + (a->kind == EXPANDER ? 15 : 0)
													   + 16 * (u(a->i, day, 4, 3) - 0.5), -80, 60)));
		}
	}
}

static long
parse_date(const char *s)
{
	int			y, m, d;

	if (sscanf(s, "%d-%d-%d", &y, &m, &d) != 3)
	{
		fprintf(stderr, "scale_gen: a date is written YYYY-MM-DD, got \"%s\"\n", s);
		exit(2);
	}
	return days_from_civil(y, m, d);
}

int
main(int argc, char **argv)
{
	static const char *segments[] = {"enterprise", "mid_market", "smb"};
	long		n, end_date, first_day, i, day, from, to;
	Account		a;
	Account    *book;

	if (argc < 4 || (strcmp(argv[1], "accounts") != 0 && strcmp(argv[1], "observations") != 0) ||
		(strcmp(argv[1], "observations") == 0 && argc != 6))
	{
		fprintf(stderr, "usage: scale_gen accounts N END_DATE | scale_gen observations N END_DATE FROM TO\n");
		return 2;
	}
	n = atol(argv[2]);
	end_date = parse_date(argv[3]);
	first_day = end_date - YEAR_DAYS;
	if (strcmp(argv[1], "accounts") == 0)
	{
		for (i = 1; i <= n; i++)
		{
			account_make(i, first_day, end_date, &a);
			printf("%s\taccount %ld\t%s\t%s\t%s\t%.0f\t", a.id, i, segments[a.segment], a.plan, a.owner, a.mrr);
			print_date(a.started_on);
			if (a.churned_on >= 0)
			{
				putchar('\t');
				print_date(a.churned_on);
				putchar('\n');
			}
			else
				fputs("\t\\N\n", stdout);
		}
		return 0;
	}
	from = atol(argv[4]);
	to = atol(argv[5]);
	book = malloc(sizeof(Account) * (n > 0 ? n : 1));
	if (book == NULL)
	{
		fprintf(stderr, "scale_gen: out of memory for %ld accounts\n", n);
		return 1;
	}
	for (i = 1; i <= n; i++)
		account_make(i, first_day, end_date, &book[i - 1]);
	for (day = first_day + from; day < first_day + to; day++)
		for (i = 0; i < n; i++)
			if (day >= book[i].started_on && (book[i].churned_on < 0 || day < book[i].churned_on))
				account_day(&book[i], day, first_day, end_date);
	return 0;
}
