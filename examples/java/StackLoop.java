import java.nio.file.Paths;
import org.multiverseg.Backend;
import org.multiverseg.Image;
import org.multiverseg.Model;
import org.multiverseg.MvsException;
import org.multiverseg.Prediction;
import org.multiverseg.Session;

/**
 * A loop over an image stack, as a Fiji plugin would run it: the stack's slices are 16-bit
 * arrays (ImageJ's ShortProcessor pixels); the user clicks on the first slice, every
 * finished slice joins the context, and later slices are predicted from the context, with a
 * click only when the prediction is poor. Here the stack is generated and the "user" knows
 * the true mask.
 *
 * <p>javac -cp multiverseg-0.1.0.jar:jna-5.19.1.jar StackLoop.java; java -cp
 * .:multiverseg-0.1.0.jar:jna-5.19.1.jar StackLoop [model.safetensors]
 */
public class StackLoop {
  public static void main(String[] args) throws MvsException {
    final int w = 80, h = 64, depth = 8;
    short[][] stack = new short[depth][w * h];
    byte[][] truth = new byte[depth][w * h];
    for (int z = 0; z < depth; z++) {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          double u = (x - 40.0) / (20 + z), v = (y - 32.0) / 14.0;
          boolean in = u * u + v * v <= 1.0;
          truth[z][y * w + x] = (byte) (in ? 1 : 0);
          stack[z][y * w + x] = (short) ((in ? 3000 : 800) + (x * 11 + y * 5 + z) % 97);
        }
      }
    }
    try (Model model =
            args.length > 0
                ? Model.load(Paths.get(args[0]), Backend.AUTO, 0)
                : Model.loadDefault();
        Session session = new Session(model)) {
      System.out.println("backend: " + model.backendName());
      int clicks = 0;
      for (int z = 0; z < depth; z++) {
        session.setImage(Image.u16(stack[z], w, h, 0));
        double d = -1;
        if (session.contextCount() > 0) {
          d = dice(session.predict(), truth[z]);
        }
        if (d < 0.8) {
          session.addClick(40, 32, true);
          clicks++;
          d = dice(session.predict(), truth[z]);
        }
        System.out.printf("slice %d: context %d, Dice %.3f%n", z, session.contextCount(), d);
        session.commit();
      }
      System.out.printf("%d slices, %d clicks%n", depth, clicks);
    }
  }

  static double dice(Prediction p, byte[] truth) {
    long inter = 0, sum = 0;
    for (int i = 0; i < truth.length; i++) {
      inter += (p.mask[i] != 0 && truth[i] != 0) ? 1 : 0;
      sum += (p.mask[i] != 0 ? 1 : 0) + (truth[i] != 0 ? 1 : 0);
    }
    return sum == 0 ? 1.0 : 2.0 * inter / sum;
  }
}
