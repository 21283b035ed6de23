package bench

import (
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	var lat []time.Duration
	for i := 10; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	r := Summarise(lat)
	if r.MedianMS != 6 || r.MinMS != 1 || r.P90MS != 10 || r.MeanMS != 5.5 || r.Runs != 10 {
		t.Errorf("%+v", r)
	}
}

func TestTimeCountsRuns(t *testing.T) {
	n := 0
	r, err := Time(func() error { n++; return nil }, Options{Runs: 7, Warmup: 3})
	if err != nil || r.Runs != 7 || n != 10 {
		t.Errorf("runs %d calls %d err %v", r.Runs, n, err)
	}
	if PeakRSS() <= 0 {
		t.Error("no peak RSS on Linux")
	}
}
