package ratelimit_test

import (
	"fmt"

	"hotfolder/ratelimit"
)

// The spacing a Set keeps on each bucket of Adobe's soft limits.
func ExampleSet_Interval() {
	s := ratelimit.New(ratelimit.Soft(), ratelimit.Options{})
	for _, b := range ratelimit.Buckets() {
		l, _ := s.Limit(b)
		fmt.Printf("%-22s %-6v one request every %v\n", b, l, s.Interval(b))
	}
	// Output:
	// post                   15/3s  one request every 204ms
	// get                    300/3s one request every 10.2ms
	// remove-background.post 2/3s   one request every 1.53s
	// remove-background.get  500/3s one request every 6.12ms
}
