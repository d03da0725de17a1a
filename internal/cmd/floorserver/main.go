// Command floorserver is a benchmark baseline: a PCP server that does no work at all.
// It greets, takes CREDS, and answers every name lookup and fetch with a canned
// reply, so fetchbench against it measures only the libpcp client, the kernel and
// loopback: the floor under any collector's latency on this machine.
//
//	floorserver -p PORT
package main

import (
	"flag"
	"log"
	"net"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

func main() {
	port := flag.Int("p", 44799, "port on 127.0.0.1")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		log.Fatal(err)
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(nc)
	}
}

func serve(nc net.Conn) {
	defer nc.Close()
	c := protocol.NewConn(nc)
	c.Write(protocol.Greeting(0, protocol.FeatureHighres|protocol.FeatureDescs|protocol.FeatureLabels))
	if _, err := c.Read(); err != nil {
		return
	}
	for {
		p, err := c.Read()
		if err != nil {
			return
		}
		switch p := p.(type) {
		case *protocol.Profile:
		case *protocol.PMNSNames:
			ids := make([]protocol.PMID, len(p.Names))
			for i := range ids {
				ids[i] = protocol.NewPMID(60, 0, uint32(i))
			}
			c.Write(&protocol.PMNSIDs{Status: int32(len(ids)), IDs: ids})
		case *protocol.Fetch:
			r := &protocol.Result{Highres: p.Highres}
			for _, id := range p.PMIDs {
				r.VSets = append(r.VSets, protocol.ValueSet{PMID: id, NumVal: 1, Values: []protocol.Value{protocol.Insitu32(protocol.InNull, 1)}})
			}
			c.Write(r)
		default:
			c.Write(&protocol.ErrorPDU{Code: protocol.ErrIPC})
		}
	}
}
