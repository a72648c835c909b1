#!/usr/bin/env bash
# Release engineering: the version is stated in health_score.control and everything else
# agrees with it (META.json, CHANGELOG.md, the Makefile's install script); META.json follows
# the PGXN Meta Spec 1.0; released install scripts never change (their checksums are recorded
# in versions/released.sha256); and PostgreSQL finds an update path from every released
# version to the current one.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd).
source "$(dirname "$0")/../lib/tap.sh"

db=hs_release
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" health_score.control)
echo "1..7"
throwaway_databases $db

check_that "health_score.control states a semantic version ($version)" \
    '[[ "$version" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]]'

# META.json against the PGXN Meta Spec 1.0 (https://pgxn.org/meta/spec.txt): required keys,
# no unknown keys (x_ keys aside), terms, semantic versions, licence, prerequisites, tags.
meta_errors=$(perl -MJSON::PP -e '
    my @errors;
    sub fail { push @errors, @_ }
    my $semver = qr/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
    my $term = qr/^[^\/\\\s[:cntrl:]]{2,}$/;
    sub only { my ($what, $h, @keys) = @_; my %ok = map { $_ => 1 } @keys;
               fail("$what: unknown key $_") for grep { !$ok{$_} && !/^[xX]_./ } keys %$h }
    sub string { my ($what, $v) = @_; fail("$what must be a non-empty string") unless defined $v && !ref $v && length $v }
    my $meta = eval { local $/; open my $f, "<", "META.json" or die "cannot read: $!"; decode_json(<$f>) };
    if (!$meta) { print "META.json is not valid JSON: $@\n"; exit }
    only("META.json", $meta, qw(name version abstract maintainer license provides meta-spec description
                                generated_by tags no_index prereqs release_status resources));
    for my $key (qw(name version abstract maintainer license provides meta-spec)) {
        fail("missing required key $key") unless exists $meta->{$key} }
    fail("name must be a term") unless ($meta->{name} // "") =~ $term;
    fail("version must be a semantic version") unless ($meta->{version} // "") =~ $semver;
    string("abstract", $meta->{abstract});
    defined $meta->{$_} && string($_, $meta->{$_}) for qw(description generated_by);
    my $m = $meta->{maintainer};
    fail("maintainer must be a string or a list of strings")
        unless (defined $m && !ref $m && length $m) || (ref $m eq "ARRAY" && @$m && !grep { ref || !length } @$m);
    my %licences = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2
        gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql
        qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);
    my $l = $meta->{license};
    fail("license must be a known licence, a list of them or an object of URIs")
        unless (!ref $l && $licences{$l // ""}) || (ref $l eq "ARRAY" && @$l && !grep { !$licences{$_} } @$l)
            || (ref $l eq "HASH" && %$l && !grep { ref || !/^https?:\/\// } values %$l);
    my $p = $meta->{provides};
    if (ref $p ne "HASH" || !%$p) { fail("provides must name at least one extension") }
    else { for my $ext (sort keys %$p) {
        my $e = $p->{$ext};
        fail("provides: $ext must be a term") unless $ext =~ $term;
        only("provides.$ext", $e, qw(file version abstract docfile docpath));
        fail("provides.$ext.version must be a semantic version") unless ($e->{version} // "") =~ $semver;
        for my $f (grep { defined $e->{$_} } qw(file docfile)) {
            fail("provides.$ext.$f must be a relative path to a file of the distribution")
                if $e->{$f} =~ m{^/|\\} || !-f $e->{$f} }
        fail("provides.$ext.file is required") unless defined $e->{file} } }
    my $s = $meta->{"meta-spec"};
    if (ref $s ne "HASH") { fail("meta-spec must be an object") }
    else { only("meta-spec", $s, qw(version url));
           fail("meta-spec.version must be 1.0.x") unless ($s->{version} // "") =~ /^1\.0\.\d+$/;
           fail("meta-spec.url must be the spec URL")
               if defined $s->{url} && $s->{url} !~ m{^https?://pgxn\.org/meta/spec\.txt$} }
    if (defined(my $t = $meta->{tags})) {
        fail("tags must be a non-empty list") unless ref $t eq "ARRAY" && @$t;
        fail("tag \"$_\" must be 2-255 characters without slashes") for grep { !/^[^\/\\[:cntrl:]]{2,255}$/ } @{ ref $t eq "ARRAY" ? $t : [] } }
    fail("release_status must be stable, testing or unstable")
        if defined $meta->{release_status} && $meta->{release_status} !~ /^(stable|testing|unstable)$/;
    if (defined(my $pr = $meta->{prereqs})) {
        only("prereqs", $pr, qw(configure build test runtime develop));
        for my $phase (sort keys %$pr) {
            only("prereqs.$phase", $pr->{$phase}, qw(requires recommends suggests conflicts));
            for my $rel (sort keys %{ $pr->{$phase} }) {
                while (my ($name, $range) = each %{ $pr->{$phase}{$rel} }) {
                    fail("prereqs.$phase.$rel: $name must be a term") unless $name =~ $term;
                    fail("prereqs.$phase.$rel.$name must be 0 or a version range")
                        unless $range eq "0" || !grep { !/^\s*(==|!=|>=|<=|>|<)?\s*\S+\s*$/ || !(/(\S+)\s*$/ && $1 =~ $semver) } split /,/, $range } } } }
    print "$_\n" for @errors;
    print "version=$meta->{version} provides=", join(",", map { "$_:$p->{$_}{version}" } sort keys %{ ref $p eq "HASH" ? $p : {} }), "\n";
' 2>&1)
check "META.json follows the PGXN Meta Spec 1.0" "$(grep -v '^version=' <<<"$meta_errors")" ""
check "META.json states the control file's version, for the distribution and the extension" \
    "$(grep '^version=' <<<"$meta_errors")" "version=$version provides=health_score:$version"
check "CHANGELOG.md's newest entry is this version" \
    "$(sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' CHANGELOG.md | head -n 1)" "$version"

# Released install scripts are frozen: any change to one shows here.
check "the released install scripts are unchanged" \
    "$(cd versions && sha256sum --quiet -c released.sha256 2>&1)" ""

"$PGBIN/createdb" $db || { echo "Bail out! cannot create $db"; exit 1; }
released=$(awk '{ sub(/^health_score--/, "", $2); sub(/\.sql$/, "", $2); print $2 }' versions/released.sha256)
check "an update path leads from every released version ($(echo $released)) to $version" \
    "$(for v in $released; do
           [ "$v" = "$version" ] && continue
           q $db -c "SELECT path FROM pg_extension_update_paths('health_score') WHERE source = '$v' AND target = '$version' AND path IS NOT NULL" |
               grep -q . || echo "no path from $v"
       done)" ""
check "CREATE EXTENSION installs $version by default" \
    "$(q $db -c 'CREATE EXTENSION health_score' -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'")" "$version"

[ $failed -eq 0 ]
