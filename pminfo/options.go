package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// usage is pmGetOptions' usage message for pminfo 6.0.3, word for word.
const usage = `Usage: pminfo [options] [metricname | pmid | indom]...

General options:
  -a FILE, --archive=FILE
                        metrics source is a PCP log archive
  -h HOST, --host=HOST  metrics source is PMCD on host
  --container=NAME      specify an individual container to be queried
  -L, --local-PMDA      metrics source is local connection to a PMDA
  -K SPEC, --spec-local=SPEC
                        optional additional PMDA spec for local connection
  -n FILE, --namespace=FILE
                        use an alternative PMNS
  -N FILE, --uniqnames=FILE
                        like -n but only one name allowed for each PMID
  -O TIME, --origin=TIME
                        initial sample time within the time window
  -Z TZ, --timezone=TZ  set reporting timezone
  -z, --hostzone        set reporting timezone to local time of metrics source
  -V, --version         display version number and exit
  -?, --help            show this usage message and exit

Protocol options:
  -b N, --batch=N       fetch N metrics at a time for -f and -v [128]
  -d, --desc            get and print metric description
  -f, --fetch           fetch and print values for all instances
  -F, --fetchall        fetch and print values for non-enumerable indoms
  -I, --fullindom       print InDom in verbose format
  -l, --labels          print InDom, metric and instance labels
  -m, --pmid            print PMID
  -M, --fullpmid        print PMID in verbose format
  -s, --series          print source, metric, instance series identifiers
  -t, --oneline         get and display (terse) oneline text
  -T, --helptext        get and display (verbose) help text

Metrics options:
  -c FILE, --derived=FILE
                        load derived metric definitions from FILE(s)
  -x, --events          unpack and report on any fetched event records
  -v, --verify          verify mode, be quiet and only report errors
`

// version is what -V prints: the PCP release whose pminfo this one reproduces.
const version = "6.0.3"

// shortOpts are pminfo's short options; a ':' follows those taking an argument.
const shortOpts = "a:b:c:dD:Ffh:IK:lLMmN:n:O:stTvVxzZ:?"

// longOpt maps a long option to the short option it stands for ("container" has
// none and is reported as 0).
type longOpt struct {
	name   string
	hasArg bool
	short  byte
}

var longOpts = []longOpt{
	{"archive", true, 'a'}, {"debug", true, 'D'}, {"host", true, 'h'},
	{"container", true, 0}, {"local-PMDA", false, 'L'}, {"spec-local", true, 'K'},
	{"namespace", true, 'n'}, {"uniqnames", true, 'N'}, {"origin", true, 'O'},
	{"timezone", true, 'Z'}, {"hostzone", false, 'z'}, {"version", false, 'V'},
	{"help", false, '?'}, {"batch", true, 'b'}, {"desc", false, 'd'},
	{"fetch", false, 'f'}, {"fetchall", false, 'F'}, {"fullindom", false, 'I'},
	{"labels", false, 'l'}, {"pmid", false, 'm'}, {"fullpmid", false, 'M'},
	{"series", false, 's'}, {"oneline", false, 't'}, {"helptext", false, 'T'},
	{"derived", true, 'c'}, {"events", false, 'x'}, {"verify", false, 'v'},
}

// opt is one parsed option: short is the option letter (0 for --container).
type opt struct {
	short byte
	arg   string
}

// getopt parses args as GNU getopt_long does for pmGetOptions: options and operands
// may be mixed (operands are collected in order), "--" ends the options, short
// options cluster ("-fdm") and take their argument attached or as the next word,
// long options may be abbreviated to a unique prefix and take "=value" or the next
// word. Errors are written to stderr in glibc's words; ok is false after one.
func getopt(args []string, stderr io.Writer) (opts []opt, operands []string, ok bool) {
	ok = true
	fail := func(format string, a ...any) {
		fmt.Fprintf(stderr, "pminfo: "+format+"\n", a...)
		ok = false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			operands = append(operands, args[i+1:]...)
			return
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			var match []longOpt
			for _, l := range longOpts {
				if l.name == name {
					match = []longOpt{l}
					break
				}
				if strings.HasPrefix(l.name, name) {
					match = append(match, l)
				}
			}
			switch {
			case len(match) == 0:
				fail("unrecognized option '--%s'", name)
				continue
			case len(match) > 1:
				var b strings.Builder
				for _, m := range match {
					b.WriteString(" '--" + m.name + "'")
				}
				fail("option '--%s' is ambiguous; possibilities:%s", name, b.String())
				continue
			}
			l := match[0]
			if !l.hasArg {
				if hasVal {
					fail("option '--%s' doesn't allow an argument", l.name)
					continue
				}
				opts = append(opts, opt{short: l.short})
				continue
			}
			if !hasVal {
				if i+1 >= len(args) {
					fail("option '--%s' requires an argument", l.name)
					continue
				}
				i++
				val = args[i]
			}
			opts = append(opts, opt{short: l.short, arg: val})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				c := a[j]
				k := strings.IndexByte(shortOpts, c)
				if k < 0 || c == ':' {
					fail("invalid option -- '%c'", c)
					continue
				}
				if k+1 < len(shortOpts) && shortOpts[k+1] == ':' {
					val := a[j+1:]
					if val == "" {
						if i+1 >= len(args) {
							fail("option requires an argument -- '%c'", c)
							break
						}
						i++
						val = args[i]
					}
					opts = append(opts, opt{short: c, arg: val})
					break
				}
				opts = append(opts, opt{short: c})
			}
		default:
			operands = append(operands, a)
		}
	}
	return
}

// config is what the command line asks for.
type config struct {
	host      string
	hosts     int
	container string
	batch     int

	pMid, pFullMid, pFullIID, pDesc, pLabel, pSeries bool
	pOneline, pHelp, pValue, pForce, verify, events  bool
	needPmid                                         bool
	showVersion                                      bool
	names                                            []string
}

// parseArgs turns the command line into a config. On error it prints the reason
// and the usage message to stderr and returns exit status 1.
func parseArgs(args []string, stderr io.Writer) (*config, int, bool) {
	cfg := &config{batch: 128}
	opts, operands, ok := getopt(args, stderr)
	errors := !ok
	zone := 0
	hostZone := false
	for _, o := range opts {
		switch o.short {
		case 'a', 'L', 'K', 'n', 'N', 'O', 'c':
			fmt.Fprintf(stderr, "pminfo: option -%c is not supported by this pminfo (live pmcd hosts only)\n", o.short)
			return nil, 1, false
		case 'h':
			cfg.hosts++
			if cfg.hosts > 1 {
				fmt.Fprintf(stderr, "pminfo: too many hosts requested: %s\n", o.arg)
				errors = true
				continue
			}
			cfg.host = o.arg
		case 0:
			cfg.container = o.arg
		case 'D':
			// Debug options are accepted and ignored.
		case 'Z', 'z':
			if o.short == 'z' {
				hostZone = true
			}
			zone++
			if zone > 1 {
				fmt.Fprintf(stderr, "pminfo: at most one of -Z and -z allowed\n")
				errors = true
			}
		case 'V':
			cfg.showVersion = true
		case '?':
			errors = true
		case 'b':
			n, err := strconv.ParseInt(o.arg, 10, 64)
			if err != nil || o.arg == "" {
				fmt.Fprintf(stderr, "pminfo: -b requires numeric argument\n")
				errors = true
				continue
			}
			if n < 1 {
				n = 1
			}
			cfg.batch = int(min(n, 1<<20))
		case 'd':
			cfg.pDesc, cfg.needPmid = true, true
		case 'F':
			cfg.pForce, cfg.pValue, cfg.needPmid = true, true, true
		case 'f':
			cfg.pValue, cfg.needPmid = true, true
		case 'l':
			cfg.pLabel, cfg.needPmid = true, true
		case 'M':
			cfg.pFullMid, cfg.pMid, cfg.needPmid = true, true, true
		case 'I':
			cfg.pFullIID, cfg.pDesc, cfg.needPmid = true, true, true
		case 'm':
			cfg.pMid, cfg.needPmid = true, true
		case 's':
			cfg.pSeries, cfg.needPmid = true, true
		case 't':
			cfg.pOneline, cfg.needPmid = true, true
		case 'T':
			cfg.pHelp, cfg.needPmid = true, true
		case 'v':
			cfg.verify, cfg.needPmid = true, true
		case 'x':
			cfg.events, cfg.pValue, cfg.needPmid = true, true, true
		}
	}
	if hostZone && cfg.hosts == 0 {
		fmt.Fprintf(stderr, "pminfo: use of timezone from metric source requires a source\n")
		errors = true
	}
	if errors {
		io.WriteString(stderr, usage)
		return nil, 1, false
	}
	if cfg.verify {
		cfg.pDesc, cfg.pMid, cfg.pFullMid, cfg.pHelp, cfg.pOneline = false, false, false, false, false
		cfg.pValue, cfg.pForce, cfg.pLabel = false, false, false
	}
	cfg.names = operands
	return cfg, 0, true
}
