// porcupine-check MODEL FILE...: parse each file and check it with porcupine; one line per file:
// "<file> <true|false|unknown> <seconds parse+check>". Models: etcd (Jepsen etcd logs, as
// porcupine's own tests read them) and kv (porcupine's kv logs, partitioned by key).
package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

type regIn struct {
	op         uint8 // 0 read, 1 write, 2 cas
	arg1, arg2 int
}

type regOut struct {
	ok, exists, unknown bool
	value               int
}

const nilValue = -1000000

var etcdModel = porcupine.Model{
	Init: func() interface{} { return nilValue },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in, out := state.(int), input.(regIn), output.(regOut)
		switch in.op {
		case 0:
			return out.unknown || (!out.exists && st == nilValue) || (out.exists && st == out.value), st
		case 1:
			return true, in.arg1
		}
		next := st
		if in.arg1 == st {
			next = in.arg2
		}
		return out.unknown || (in.arg1 == st) == out.ok, next
	},
}

type kvIn struct {
	op         uint8 // 0 get, 1 put, 2 append
	key, value string
}

var kvModel = porcupine.Model{
	PartitionEvent: func(history []porcupine.Event) [][]porcupine.Event {
		byKey, keyOf := map[string][]porcupine.Event{}, map[int]string{}
		for _, e := range history {
			if e.Kind == porcupine.CallEvent {
				keyOf[e.Id] = e.Value.(kvIn).key
			}
			k := keyOf[e.Id]
			byKey[k] = append(byKey[k], e)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Event, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in := state.(string), input.(kvIn)
		switch in.op {
		case 0:
			return output.(string) == st, st
		case 1:
			return true, in.value
		}
		return true, st + in.value
	},
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
}

var (
	jepsen   = regexp.MustCompile(`^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*)$`)
	pair     = regexp.MustCompile(`^\[(\d+)\s+(\d+)\]$`)
	kvLine   = regexp.MustCompile(`^\{:process (\d+), :type :(\w+), :f :(\w+), :key "(.*)", :value (nil|"(.*)")\}$`)
	lineRead = func(path string, each func(string)) {
		f, err := os.Open(path)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 1<<20), 1<<26)
		for s.Scan() {
			each(s.Text())
		}
	}
)

// history builds porcupine events: an invocation opens an op per process; ok/fail close it; an
// op still open at the end (crashed, :info) returns at the very end with an unknown output.
type history struct {
	events  []porcupine.Event
	open    map[int]int
	next    int
	unknown interface{}
}

func (h *history) call(proc int, in interface{}) {
	h.events = append(h.events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent, Value: in, Id: h.next})
	h.open[proc] = h.next
	h.next++
}

func (h *history) ret(proc int, out interface{}) {
	if id, ok := h.open[proc]; ok {
		h.events = append(h.events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: out, Id: id})
		delete(h.open, proc)
	}
}

func (h *history) done() []porcupine.Event {
	for proc, id := range h.open {
		h.events = append(h.events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: h.unknown, Id: id})
	}
	return h.events
}

func etcdEvents(path string) []porcupine.Event {
	h := &history{open: map[int]int{}, unknown: regOut{unknown: true}}
	lineRead(path, func(line string) {
		m := jepsen.FindStringSubmatch(line)
		if m == nil {
			return
		}
		proc, _ := strconv.Atoi(m[1])
		kind, f, value := m[2], m[3], m[4]
		switch {
		case kind == "invoke" && f == "read":
			h.call(proc, regIn{op: 0})
		case kind == "invoke" && f == "write":
			v, _ := strconv.Atoi(value)
			h.call(proc, regIn{op: 1, arg1: v})
		case kind == "invoke" && f == "cas":
			p := pair.FindStringSubmatch(value)
			a, _ := strconv.Atoi(p[1])
			b, _ := strconv.Atoi(p[2])
			h.call(proc, regIn{op: 2, arg1: a, arg2: b})
		case kind == "ok" && f == "read":
			v, err := strconv.Atoi(value)
			h.ret(proc, regOut{exists: err == nil, value: v})
		case kind == "ok":
			h.ret(proc, regOut{ok: true})
		case kind == "fail" && f == "cas":
			h.ret(proc, regOut{ok: false})
		case kind == "fail" && f == "read":
			h.ret(proc, regOut{unknown: true}) // a failed read observed nothing
		}
	})
	return h.done()
}

func kvEvents(path string) []porcupine.Event {
	h := &history{open: map[int]int{}, unknown: ""}
	lineRead(path, func(line string) {
		m := kvLine.FindStringSubmatch(line)
		if m == nil {
			return
		}
		proc, _ := strconv.Atoi(m[1])
		kind, f := m[2], m[3]
		ops := map[string]uint8{"get": 0, "put": 1, "append": 2}
		if kind == "invoke" {
			h.call(proc, kvIn{op: ops[f], key: m[4], value: m[6]})
		} else if kind == "ok" {
			h.ret(proc, m[6])
		}
	})
	return h.done()
}

func main() {
	model, parse := etcdModel, etcdEvents
	if os.Args[1] == "kv" {
		model, parse = kvModel, kvEvents
	}
	timeout, _ := strconv.ParseFloat(os.Getenv("PORCUPINE_TIMEOUT_S"), 64)
	for _, path := range os.Args[2:] {
		began := time.Now()
		result := porcupine.CheckEventsTimeout(model, parse(path), time.Duration(timeout*float64(time.Second)))
		verdict := map[porcupine.CheckResult]string{porcupine.Ok: "true", porcupine.Illegal: "false", porcupine.Unknown: "unknown"}[result]
		fmt.Printf("%s %s %.4f\n", path, verdict, time.Since(began).Seconds())
	}
}
