# plot.gp: throughput against latency for make bench-pg.
#   gnuplot -e "datafile='build/bench-pg.dat'; outfile='build/bench-pg.png'; subtitle='...'" plot.gp
# datafile columns: clients zyzzyva_tps zyzzyva_ms unreplicated_tps
# unreplicated_ms syncrep_tps syncrep_ms [zyzzyva_b_tps zyzzyva_b_ms
# calls_per_batch batches_in_flight]; one row per client count.
if (!exists("subtitle")) subtitle = ''
# the second zyzzyva cluster (columns 8, 9: BENCH_PG_ZZ_B_SET), if measured
if (!exists("btitle")) btitle = 'zyzzyva, second settings'
set terminal pngcairo size 960,600 font ',11' noenhanced
set output outfile
set title "TPC-B-like function through pgbench: throughput vs. mean latency\n" . subtitle
set xlabel 'throughput (calls/s, all clients)'
set ylabel 'mean latency (ms, log scale)'
set logscale y
set grid xtics ytics mytics
set key top left box opaque
set xrange [0:*]
set datafile missing '-'
set offsets 0, graph 0.05, graph 0.05, graph 0.05
plot datafile using 4:5 with linespoints lw 2 pt 7 ps 1.3 lc rgb '#1b9e77' title 'unreplicated (1 server)', \
     ''       using 4:5:(sprintf(' %d', $1)) with labels left offset 0.5,0.5 tc rgb '#1b9e77' notitle, \
     ''       using 6:7 with linespoints lw 2 pt 5 ps 1.3 lc rgb '#7570b3' title 'sync. streaming replication (primary + 3 standbys, remote_apply, ANY 2)', \
     ''       using 6:7:(sprintf(' %d', $1)) with labels left offset 0.5,0.5 tc rgb '#7570b3' notitle, \
     ''       using 2:3 with linespoints lw 2 pt 9 ps 1.5 lc rgb '#d95f02' title 'zyzzyva (4 replicas, f = 1: BFT)', \
     ''       using 2:3:(sprintf(' %d', $1)) with labels left offset 0.5,0.5 tc rgb '#d95f02' notitle, \
     ''       using 8:9 with linespoints lw 2 dt 2 pt 8 ps 1.3 lc rgb '#e7298a' title btitle, \
     ''       using 8:9:(sprintf(' %d', $1)) with labels left offset 0.5,-0.5 tc rgb '#e7298a' notitle
